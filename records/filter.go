package records

import (
	"database/sql"
	"encoding/json"
	"regexp"
	"strings"
	"time"
)

// UnknownDigest stands for a base image digest farm did not learn: without
// --pin-base each node resolves the FROM image's tag itself.
const UnknownDigest = "unknown"

// Results are the values of BuildRecord.Result.
var Results = []string{"running", "success", "failed", "interrupted"}

// Filter selects recorded builds; its zero value selects every build.
type Filter struct {
	// Since keeps the builds started at or after it (zero: no limit).
	Since time.Time
	// Tag keeps the builds that named a tag matching it, exactly or as a
	// glob (see MatchTag).
	Tag string
	// Result keeps the builds with this result.
	Result string
	// Farm keeps the builds run on this farm.
	Farm string
}

// Query returns the builds f selects, newest first, with their platforms.
// Running builds whose process is gone are recorded as interrupted first.
func (r *Records) Query(f Filter) ([]BuildRecord, error) {
	r.reapQuietly()
	where, args := []string{"1 = 1"}, []any{}
	if !f.Since.IsZero() {
		where, args = append(where, "started >= ?"), append(args, f.Since.UnixMilli())
	}
	if f.Result != "" {
		where, args = append(where, "result = ?"), append(args, f.Result)
	}
	if f.Farm != "" {
		where, args = append(where, "farm = ?"), append(args, f.Farm)
	}
	rows, err := r.db.Query(`SELECT `+buildColumns+` FROM builds WHERE `+strings.Join(where, " AND ")+
		` ORDER BY started DESC, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []BuildRecord{}
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, err
		}
		if f.Tag != "" && !anyTagMatches(f.Tag, b.Tags) {
			continue
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	platforms, err := r.platforms("")
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Platforms = platforms[out[i].ID]
	}
	return out, nil
}

// platforms returns the platforms of build id ("": of every build), per
// build, sorted by platform. A base image digest the records do not hold
// reads as UnknownDigest.
func (r *Records) platforms(id string) (map[string][]PlatformRecord, error) {
	rows, err := r.db.Query(`SELECT build_id, platform, node, node_id, emulated, image_id, image_ref, digest, base_digests,
		seconds, attempts, result, error, log, intermediate, engine, engine_version FROM platforms
		WHERE ? = '' OR build_id = ? ORDER BY build_id, platform`, id, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]PlatformRecord{}
	for rows.Next() {
		var p PlatformRecord
		var build string
		var node, nodeID, bases, img, ref, dig, errText, logPath, inter, eng, engVersion sql.NullString
		var seconds sql.NullFloat64
		var attempts sql.NullInt64
		var emulated sql.NullBool
		if err := rows.Scan(&build, &p.Platform, &node, &nodeID, &emulated, &img, &ref, &dig, &bases, &seconds, &attempts,
			&p.Result, &errText, &logPath, &inter, &eng, &engVersion); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(inter.String), &p.Intermediate)
		p.Node, p.NodeID, p.ImageID, p.ImageRef = node.String, nodeID.String, img.String, ref.String
		p.Digest, p.Error, p.Seconds, p.Attempts = dig.String, errText.String, seconds.Float64, int(attempts.Int64)
		p.Emulated, p.Log, p.Engine, p.EngineVersion = emulated.Bool, logPath.String, eng.String, engVersion.String
		_ = json.Unmarshal([]byte(bases.String), &p.BaseDigests)
		for img, d := range p.BaseDigests {
			if d == "" {
				p.BaseDigests[img] = UnknownDigest
			}
		}
		out[build] = append(out[build], p)
	}
	return out, rows.Err()
}

// TagsOf returns the tags a farm build command line named (-t, --tag),
// in order.
func TagsOf(args []string) []string {
	tags := []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return tags
		case a == "-t" || a == "--tag":
			if i+1 < len(args) {
				tags = append(tags, args[i+1])
				i++
			}
		case strings.HasPrefix(a, "--tag="):
			tags = append(tags, strings.TrimPrefix(a, "--tag="))
		case strings.HasPrefix(a, "-t=") || (strings.HasPrefix(a, "-t") && !strings.HasPrefix(a, "--")):
			tags = append(tags, strings.TrimPrefix(strings.TrimPrefix(a, "-t"), "="))
		}
	}
	return tags
}

// MatchTag reports whether tag is pattern, or matches it as a glob: *
// stands for any run of characters (slashes and colons too), ? for one
// character.
func MatchTag(pattern, tag string) bool {
	if pattern == tag {
		return true
	}
	if !strings.ContainsAny(pattern, "*?") {
		return false
	}
	expr := regexp.QuoteMeta(pattern)
	expr = strings.ReplaceAll(expr, `\*`, ".*")
	expr = strings.ReplaceAll(expr, `\?`, ".")
	ok, _ := regexp.MatchString("^"+expr+"$", tag)
	return ok
}

func anyTagMatches(pattern string, tags []string) bool {
	for _, t := range tags {
		if MatchTag(pattern, t) {
			return true
		}
	}
	return false
}
