package records

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/farmbuild/farm/errdefs"
)

// ErrNoRecord means no build has that ID.
var ErrNoRecord = fmt.Errorf("no such build: %w", errdefs.ErrNotFound)

func scanBuild(row interface{ Scan(...any) error }) (BuildRecord, error) {
	var b BuildRecord
	var started int64
	var finished, exit sql.NullInt64
	var ownerPID, ownerStart sql.NullInt64
	var user, args, farmName, errText, index, output, ownerHost, bakeID, target sql.NullString
	if err := row.Scan(&b.ID, &started, &finished, &user, &args, &farmName, &b.Result, &exit, &errText, &index, &output,
		&ownerPID, &ownerStart, &ownerHost, &bakeID, &target); err != nil {
		return b, err
	}
	b.Started = time.UnixMilli(started).UTC()
	if finished.Valid {
		b.Finished = time.UnixMilli(finished.Int64).UTC()
	}
	b.User, b.Farm, b.Error, b.Index, b.ExitCode = user.String, farmName.String, errText.String, index.String, int(exit.Int64)
	b.Output, b.BakeID, b.Target = output.String, bakeID.String, target.String
	b.Owner = Owner{PID: int(ownerPID.Int64), Start: uint64(ownerStart.Int64), Host: ownerHost.String}
	_ = json.Unmarshal([]byte(args.String), &b.Args)
	if b.Args == nil {
		b.Args = []string{}
	}
	b.Tags = TagsOf(b.Args)
	return b, nil
}

const buildColumns = `id, started, finished, user, args, farm, result, exit_code, error, index_digest, output,
	owner_pid, owner_start, owner_host, bake_id, target`

// List returns the recorded builds, newest first, with their platforms.
// Running builds whose process is gone are recorded as interrupted first.
func (r *Records) List() ([]BuildRecord, error) { return r.Query(Filter{}) }

// Get returns one build with its platforms. id may be a unique prefix.
// Running builds whose process is gone are recorded as interrupted first.
func (r *Records) Get(id string) (BuildRecord, error) {
	r.reapQuietly()
	rows, err := r.db.Query(`SELECT `+buildColumns+` FROM builds WHERE id LIKE ? || '%' ORDER BY id LIMIT 2`, id)
	if err != nil {
		return BuildRecord{}, err
	}
	var found []BuildRecord
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			rows.Close()
			return BuildRecord{}, err
		}
		found = append(found, b)
	}
	rows.Close()
	switch {
	case len(found) == 0:
		return BuildRecord{}, fmt.Errorf("build %q: %w: see farm history", id, ErrNoRecord)
	case len(found) > 1:
		return BuildRecord{}, fmt.Errorf("%w: build ID %q is ambiguous: give more of it", errdefs.ErrUsage, id)
	}
	b := found[0]
	platforms, err := r.platforms(b.ID)
	if err != nil {
		return b, err
	}
	b.Platforms = platforms[b.ID]
	return b, nil
}

// BakeTarget returns the build of a farm bake run's target; bakeID may
// be a unique prefix.
func (r *Records) BakeTarget(bakeID, target string) (BuildRecord, error) {
	rows, err := r.db.Query(`SELECT DISTINCT bake_id FROM builds WHERE bake_id LIKE ? || '%' LIMIT 2`, bakeID)
	if err != nil {
		return BuildRecord{}, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return BuildRecord{}, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	switch {
	case len(ids) == 0:
		return BuildRecord{}, fmt.Errorf("bake %q: %w: see farm history", bakeID, ErrNoRecord)
	case len(ids) > 1:
		return BuildRecord{}, fmt.Errorf("%w: bake ID %q is ambiguous: give more of it", errdefs.ErrUsage, bakeID)
	}
	var id string
	err = r.db.QueryRow(`SELECT id FROM builds WHERE bake_id = ? AND target = ?`, ids[0], target).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return BuildRecord{}, fmt.Errorf("bake %s has no target %q: %w: see farm history", ids[0], target, ErrNoRecord)
	}
	if err != nil {
		return BuildRecord{}, err
	}
	return r.Get(id)
}

// reapQuietly records the builds whose process is gone as interrupted; a
// failure (another farm holds the database) leaves them for next time.
func (r *Records) reapQuietly() { _ = r.reap() }

// LogFile returns the path of a platform's log, which exists once the
// platform has printed a line.
func (r *Records) LogFile(id, platform string) string { return r.logPath(id, platform) }

// Prune removes all but the newest keep builds (keep < 0: no limit) and
// builds older than olderThan (0: no limit), with their logs. Running
// builds are kept. It returns how many builds it removed.
func (r *Records) Prune(keep int, olderThan time.Duration) (int, error) {
	all, err := r.List()
	if err != nil {
		return 0, err
	}
	removed := 0
	for i, b := range all {
		tooMany := keep >= 0 && i >= keep
		tooOld := olderThan > 0 && time.Since(b.Started) > olderThan
		if b.Result == "running" || !(tooMany || tooOld) {
			continue
		}
		if _, err := r.db.Exec(`DELETE FROM platforms WHERE build_id = ?`, b.ID); err != nil {
			return removed, err
		}
		if _, err := r.db.Exec(`DELETE FROM builds WHERE id = ?`, b.ID); err != nil {
			return removed, err
		}
		if err := os.RemoveAll(filepath.Join(r.dir, "logs", b.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed++
	}
	return removed, nil
}

// PruneSets returns, per node identity (PlatformRecord.NodeID), the images farm built there according to
// the records, in an order that removes children before parents (the
// names farm gave final images, then the layer images each build
// created, newest first), and those `farm prune` must keep: the images of
// the newest successfully pushed build (unless all) and of builds still
// running. Only platforms recorded with the name farm gave their image
// count: older records named images by ID, which may have been another's
// image the cache handed back.
func (r *Records) PruneSets(all bool) (built map[string][]string, keep map[string]map[string]bool, err error) {
	builds, err := r.List()
	if err != nil {
		return nil, nil, err
	}
	built, keep = map[string][]string{}, map[string]map[string]bool{}
	seen := map[string]bool{}
	add := func(node, id string, keepIt bool) {
		if !strings.Contains(id, ":") || strings.HasPrefix(id, "sha256:") {
			id = strings.TrimPrefix(id, "sha256:")
		}
		if keepIt {
			if keep[node] == nil {
				keep[node] = map[string]bool{}
			}
			keep[node][id] = true
		}
		if !seen[node+" "+id] {
			seen[node+" "+id] = true
			built[node] = append(built[node], id)
		}
	}
	keptPushed := all
	var layers [][3]string     // node, id, keep: after every final image
	for _, b := range builds { // newest first
		keepThis := b.Result == "running" || (!keptPushed && b.Result == "success" && pushed(b))
		if keepThis && b.Result != "running" {
			keptPushed = true
		}
		rows, err := r.db.Query(`SELECT node_id, image_ref, intermediate FROM platforms WHERE build_id = ? AND image_ref IS NOT NULL AND image_ref != '' AND node_id IS NOT NULL AND node_id != ''`, b.ID)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var node, image, inter sql.NullString
			if err := rows.Scan(&node, &image, &inter); err != nil {
				rows.Close()
				return nil, nil, err
			}
			if image.String != "" {
				add(node.String, image.String, keepThis)
			}
			var ids []string
			_ = json.Unmarshal([]byte(inter.String), &ids)
			for k := len(ids) - 1; k >= 0; k-- {
				layers = append(layers, [3]string{node.String, ids[k], strconv.FormatBool(keepThis)})
			}
		}
		rows.Close()
	}
	for _, l := range layers {
		add(l[0], l[1], l[2] == "true")
	}
	return built, keep, nil
}

// pushed reports whether a build pushed its result; records from before
// the output was kept say it in their arguments only.
func pushed(b BuildRecord) bool {
	if b.Output != "" {
		return b.Output == "push"
	}
	return slices.Contains(b.Args, "--push=true")
}

// Durations returns, per node and platform, how long the node's last
// successful build of that platform took: what the scheduler weighs.
func (r *Records) Durations() (map[string]map[string]time.Duration, error) {
	rows, err := r.db.Query(`SELECT p.node, p.platform, p.seconds FROM platforms p JOIN builds b ON b.id = p.build_id
		WHERE p.result = 'success' AND p.seconds > 0 ORDER BY b.started`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]time.Duration{}
	for rows.Next() {
		var node, platform string
		var seconds float64
		if err := rows.Scan(&node, &platform, &seconds); err != nil {
			return nil, err
		}
		if out[node] == nil {
			out[node] = map[string]time.Duration{}
		}
		out[node][platform] = time.Duration(seconds * float64(time.Second))
	}
	return out, rows.Err()
}
