// Package nodecache keeps build contexts on a node, per SSH user, keyed
// by content, so that a build sends only the files the node lacks: the
// node's side is a few POSIX sh scripts (scripts.go) run over SSH, fed
// the lists and the files on their standard input. It reaches the node
// only through Runner.
package nodecache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/farmbuild/farm/buildcontext"
)

// Runner runs POSIX sh scripts on a node; *transport.Conn is one.
type Runner interface {
	// Run runs a script and returns its standard output.
	Run(ctx context.Context, script string) ([]byte, error)
	// RunInput runs a script with stdin as its standard input.
	RunInput(ctx context.Context, script string, stdin io.Reader) ([]byte, error)
}

// Limits bound a node's cache; each build applies them when it ends.
type Limits struct {
	// MaxAge removes the blobs no build used for that long.
	MaxAge time.Duration
	// MaxBytes removes the least recently used blobs beyond it.
	MaxBytes int64
	// Wait has Finish wait for the bounding to end.
	Wait bool
}

// DefaultLimits: a week unused, 10 GiB.
var DefaultLimits = Limits{MaxAge: 7 * 24 * time.Hour, MaxBytes: 10 << 30}

// Prepared is a build context assembled on a node.
type Prepared struct {
	// Dir is the build call's directory on the node; Context its context
	// directory (Dir/ctx) and Containerfile the Containerfile's path.
	Dir, Context, Containerfile string
	// Files counts the context's distinct files, Uploaded those sent;
	// Size and UploadedBytes are their bytes (uploaded: compressed).
	Files, Uploaded     int
	Size, UploadedBytes int64

	lacking []string
}

// nonceForm is what a build call's nonce must look like: it names
// directories in the scripts.
var nonceForm = regexp.MustCompile(`^[0-9a-f]{8,64}$`)

// Prepare assembles snap's context on the node in a new directory named
// by nonce, sending only the files the node's cache lacks; extras are
// files put in the context beside them (mode 0600), never in the cache.
// Whatever it returns, Finish must be called with the same nonce.
func Prepare(ctx context.Context, r Runner, snap *buildcontext.Snapshot, nonce string, extras map[string][]byte) (Prepared, error) {
	var p Prepared
	if !nonceForm.MatchString(nonce) {
		return p, fmt.Errorf("internal: bad nonce %q", nonce)
	}
	entries, err := snap.Entries(ctx)
	if err != nil {
		return p, err
	}
	for name := range extras {
		if strings.ContainsAny(name, "/\x00") || name == "" || name == "." || name == ".." || inContext(entries, name) {
			return p, fmt.Errorf("internal: extra file %q", name)
		}
	}
	keys, size := snap.Keys()
	p.Files, p.Size = len(keys), size
	plan := planAssembly(entries, snap.Outside(), extras)
	// The second script starts now and waits for its input: its start
	// costs no round trip of its own.
	pr, pw := io.Pipe()
	second := make(chan error, 1)
	go func() {
		_, err := r.RunInput(ctx, assembleScript(nonce), pr)
		pr.CloseWithError(errors.New("the node stopped reading")) // lets the writer end
		second <- err
	}()
	out, err := r.RunInput(ctx, prepareScript(nonce), bytes.NewReader(lists(keys, plan.dups)))
	if err != nil {
		err = stepError("preparing the context cache", err)
	} else {
		p, err = prepared(p, snap, out, keys)
	}
	if err != nil {
		pw.CloseWithError(err)
		<-second
		return p, err
	}
	lack := make(map[string]bool, len(p.lacking))
	for _, k := range p.lacking {
		lack[k] = true
	}
	// The files the node lacks, then the context: one stream.
	written := make(chan int64, 1)
	go func() {
		_, err := fmt.Fprintf(pw, "go %d\n", plan.total(lack))
		var n int64
		if err == nil {
			n, err = snap.WriteMembers(ctx, pw, p.lacking)
		}
		if err == nil {
			err = plan.write(ctx, pw, snap, lack)
		}
		written <- n
		pw.CloseWithError(err)
	}()
	err = <-second
	p.UploadedBytes = <-written
	if err != nil {
		return p, stepError("sending the context", err)
	}
	return p, nil
}

// prepared reads what prepareScript printed into p.
func prepared(p Prepared, snap *buildcontext.Snapshot, out []byte, keys []string) (Prepared, error) {
	dir, lacking, err := parsePrepared(out, keys)
	if err != nil {
		return p, err
	}
	p.Dir, p.Context = dir, dir+"/ctx"
	if rel, in := snap.ContainerfileInContext(); in {
		p.Containerfile = p.Context + "/" + rel
	} else if o := snap.Outside(); o != nil {
		p.Containerfile = dir + "/cf/" + o.Path
	}
	p.Uploaded, p.lacking = len(lacking), lacking
	return p, nil
}

// Finish removes the build call's directory and bounds the cache; the
// bounding goes on on the node, detached, after Finish returned unless
// lim.Wait.
func Finish(ctx context.Context, r Runner, nonce string, lim Limits) error {
	if !nonceForm.MatchString(nonce) {
		return fmt.Errorf("internal: bad nonce %q", nonce)
	}
	days := max(1, int(lim.MaxAge/(24*time.Hour)))
	if _, err := r.Run(ctx, finishScript(nonce, days, lim.MaxBytes, !lim.Wait)); err != nil {
		return stepError("cleaning the context cache", err)
	}
	return nil
}

// Usage is a node's cache before and after Prune.
type Usage struct {
	// Bytes is the space the cache took, Blobs the files it held.
	Bytes int64 `json:"bytes"`
	Blobs int   `json:"blobs"`
	// FreedBytes is what Prune freed; -1 with a dry run.
	FreedBytes int64 `json:"freedBytes"`
}

// Prune empties the node's cache (builds under way keep the files they
// linked) and reports it; dryRun only reports.
func Prune(ctx context.Context, r Runner, dryRun bool) (Usage, error) {
	out, err := r.Run(ctx, pruneScript(dryRun))
	if err != nil {
		return Usage{}, stepError("pruning the context cache", err)
	}
	var before, after int64
	var u Usage
	if _, err := fmt.Sscanf(string(out), "%d %d %d\n", &before, &u.Blobs, &after); err != nil {
		return u, fmt.Errorf("pruning the context cache: the node answered %q", firstLine(out))
	}
	u.Bytes, u.FreedBytes = before<<10, (before-after)<<10
	if dryRun {
		u.FreedBytes = -1
	}
	return u, nil
}

// lists is what prepareScript reads: the keys with their times in
// touch -t form, the copies to make, the count.
func lists(keys []string, dups []dup) []byte {
	var b bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	for _, k := range keys {
		pk, _ := buildcontext.ParseKey(k)
		fmt.Fprintf(gz, "w %s %s\n", k, time.Unix(pk.MTime, 0).UTC().Format("200601021504.05"))
	}
	for _, d := range dups {
		fmt.Fprintf(gz, "d %d %s\n", d.n, d.key)
	}
	fmt.Fprintf(gz, "e %d\n", len(keys)+len(dups))
	_ = gz.Close()
	return b.Bytes()
}

// parsePrepared reads what prepareScript printed: the call's directory,
// then the keys the node lacks, each one of keys.
func parsePrepared(out []byte, keys []string) (string, []string, error) {
	known := make(map[string]bool, len(keys))
	for _, k := range keys {
		known[k] = true
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var dir string
	var lacking []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case dir == "":
			if !strings.HasPrefix(line, "/") || strings.ContainsAny(line, "\x00") {
				return "", nil, fmt.Errorf("preparing the context cache: the node answered %q for its directory", line)
			}
			dir = line
		case known[line]:
			lacking = append(lacking, line)
			known[line] = false // once
		default:
			return "", nil, fmt.Errorf("preparing the context cache: the node lacks %q, which is no file of the context", line)
		}
	}
	if dir == "" {
		return "", nil, errors.New("preparing the context cache: the node did not say where")
	}
	return dir, lacking, nil
}

// inContext reports whether name is a top-level path of the context.
func inContext(entries []buildcontext.Entry, name string) bool {
	for _, e := range entries {
		if e.Path == name {
			return true
		}
	}
	return false
}

// stepError words a failed script: its exit status says what failed.
func stepError(step string, err error) error {
	return fmt.Errorf("%s on the node: %w", step, err)
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}
