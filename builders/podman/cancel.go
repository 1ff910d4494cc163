package podman

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/farmbuild/farm/transport"
)

// buildContainers lists the IDs of the build containers on the node: the
// external ones (state "storage"), which buildah's builds create; podman's
// own containers are never among them.
func (e *Engine) buildContainers(ctx context.Context) (map[string]bool, error) {
	list, err := containers.List(e.ctx(ctx), new(containers.ListOptions).WithAll(true).WithExternal(true))
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, c := range list {
		if c.State == "storage" {
			ids[c.ID] = true
		}
	}
	return ids, nil
}

// abandon stops what a canceled build call left running on the node.
// Podman 4 has no way to cancel a build over its API: the build goes on
// after the client leaves, and with several platforms starts the next one.
// So farm kills the processes of the call's RUN steps (found over SSH by
// their root file system, the working container's layer) and removes the
// call's working containers, which makes every further step fail at once;
// this is repeated until no new container of the call appears. Only
// containers marked with the call's nonce (ownContainers) are touched:
// other builds on the node, another user's or another farm run's, go on.
// The images the call made stay, as the engine's layer cache; its list
// goes.
//
// Podman 5 (5.8.6 measured) goes on after the client left too, and starts
// the next platform; it also forgets a build container the moment the
// client goes while its RUN step goes on, so stopRuns ends that step
// before the client leaves, and this loop catches the platforms after it.
func (e *Engine) abandon(nonce string, before map[string]bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := 0
	for quiet < 3 && ctx.Err() == nil {
		now, err := e.buildContainers(ctx)
		if err != nil {
			break
		}
		ours := e.ownContainers(ctx, nonce, newContainers(before, now))
		e.killRuns(ctx, ours)
		removed := 0
		for _, id := range ours {
			if _, err := containers.Remove(e.ctx(ctx), id, new(containers.RemoveOptions).WithForce(true).WithIgnore(true)); err == nil {
				removed++
			}
		}
		if removed == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(time.Second)
	}
	e.removeList(ctx, nonce)
}

// stopRuns kills the RUN processes of the call's build containers.
func (e *Engine) stopRuns(nonce string, before map[string]bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if now, err := e.buildContainers(ctx); err == nil {
		e.killRuns(ctx, e.ownContainers(ctx, nonce, newContainers(before, now)))
	}
}

// ownContainersScript prints those of the container IDs (the arguments
// after the marker and the containers directory) whose buildah.json holds
// the marker.
const ownContainersScript = `mark=$1; dir=$2; shift 2
for id in "$@"; do
  case "$id" in *[!0-9a-f]*) continue;; esac
  grep -qF -- "$mark" "$dir/$id/userdata/buildah.json" 2>/dev/null && printf '%s\n' "$id"
done; true`

// ownContainers returns those of the build containers that belong to the
// build call with this nonce: buildah keeps the call's marker host
// (buildMarker) in each of its containers' buildah.json. Without a shell
// on the node, or without the engine's store path, no container can be
// shown to be the call's, and none is returned.
func (e *Engine) ownContainers(ctx context.Context, nonce string, ids []string) []string {
	if len(ids) == 0 || e.graphRoot == "" {
		return nil
	}
	script := "set -- " + transport.ShellQuote("farm-"+nonce+".invalid") + " " + transport.ShellQuote(e.storeDir("containers"))
	for _, id := range ids {
		script += " " + transport.ShellQuote(id)
	}
	out, err := e.conn.Run(ctx, script+"\n"+ownContainersScript)
	if err != nil {
		return nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var ours []string
	for _, id := range strings.Fields(string(out)) {
		if want[id] {
			ours = append(ours, id)
		}
	}
	return ours
}

// newContainers returns the IDs in now that are not in before.
func newContainers(before, now map[string]bool) []string {
	var out []string
	for id := range now {
		if !before[id] {
			out = append(out, id)
		}
	}
	return out
}

// containerLayer is what farm reads of a container in container storage.
type containerLayer struct {
	ID    string `json:"id"`
	Layer string `json:"layer"`
}

// containerLayers reads one or more concatenated container-storage
// container lists.
func containerLayers(data []byte) ([]containerLayer, error) {
	var all []containerLayer
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var list []containerLayer
		err := dec.Decode(&list)
		if errors.Is(err, io.EOF) {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, list...)
	}
}

// killRunScript kills the processes whose root file system is one of the
// given overlay layers (the arguments): a build's RUN steps.
const killRunScript = `for p in /proc/[0-9]*; do
  root=$(awk '$5=="/" {print; exit}' "$p/mountinfo" 2>/dev/null) || continue
  for layer in "$@"; do
    case "$root" in *"/overlay/$layer/diff"*) kill -9 "${p#/proc/}" 2>/dev/null;; esac
  done
done; true`

// killRuns kills the RUN processes of the given working containers.
func (e *Engine) killRuns(ctx context.Context, containerIDs []string) {
	if len(containerIDs) == 0 || e.graphRoot == "" {
		return
	}
	// Newer container storage keeps build containers in
	// volatile-containers.json, older in containers.json.
	dir := e.storeDir("containers") + "/"
	out, err := e.conn.Run(ctx, "cat "+transport.ShellQuote(dir+"containers.json")+" "+transport.ShellQuote(dir+"volatile-containers.json")+" 2>/dev/null; true")
	if err != nil {
		return
	}
	list, err := containerLayers(out)
	if err != nil {
		return
	}
	want := map[string]bool{}
	for _, id := range containerIDs {
		want[id] = true
	}
	args := ""
	for _, c := range list {
		if want[c.ID] && c.Layer != "" {
			args += " " + transport.ShellQuote(c.Layer)
		}
	}
	if args != "" {
		_, _ = e.conn.Run(ctx, "set --"+args+"\n"+killRunScript)
	}
}

// storeDir is the directory of the node's store that holds kind
// ("containers", "images"), named after the store's driver.
func (e *Engine) storeDir(kind string) string {
	driver := e.graphDriver
	if driver == "" {
		driver = "overlay"
	}
	return e.graphRoot + "/" + driver + "-" + kind
}
