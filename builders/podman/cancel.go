package podman

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
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

// abandon stops what a canceled build left running on the node. Podman 4
// has no way to cancel a build over its API: the build goes on after the
// client leaves, and with several platforms starts the next one. So farm
// kills the processes of the build's RUN steps (found over SSH by their
// root file system, the working container's layer) and removes the
// build's working containers, which makes every further step fail at
// once; this is repeated until no new container appears, then the images
// the build created are removed. before are the containers that were
// there when the build started; created are image IDs the build printed.
func (e *Engine) abandon(before map[string]bool, created []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	quiet := 0
	for quiet < 3 && ctx.Err() == nil {
		now, err := e.buildContainers(ctx)
		if err != nil {
			break
		}
		var ours []string
		for id := range now {
			if !before[id] {
				ours = append(ours, id)
			}
		}
		e.killRuns(ctx, ours)
		removed := 0
		for _, id := range ours {
			{
				if _, err := containers.Remove(e.ctx(ctx), id, new(containers.RemoveOptions).WithForce(true).WithIgnore(true)); err == nil {
					removed++
				}
			}
		}
		if removed == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(time.Second)
	}
	if len(created) > 0 {
		_, _ = images.Remove(e.ctx(ctx), created, new(images.RemoveOptions).WithIgnore(true).WithForce(true))
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
	out, err := e.conn.Run(ctx, "cat "+shellQuote(e.graphRoot+"/overlay-containers/containers.json"))
	if err != nil {
		return
	}
	var list []struct {
		ID    string `json:"id"`
		Layer string `json:"layer"`
	}
	if json.Unmarshal(out, &list) != nil {
		return
	}
	want := map[string]bool{}
	for _, id := range containerIDs {
		want[id] = true
	}
	args := ""
	for _, c := range list {
		if want[c.ID] && c.Layer != "" {
			args += " " + shellQuote(c.Layer)
		}
	}
	if args != "" {
		_, _ = e.conn.Run(ctx, "set --"+args+"\n"+killRunScript)
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
