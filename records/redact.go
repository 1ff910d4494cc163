package records

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces the values the records do not keep.
const Redacted = "<redacted>"

// uriPassword matches a URI's scheme, user and password, anywhere in an
// argument (a flag's value may hold a URI after a KEY=).
var uriPassword = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):[^/@\s]+@`)

// RedactArgs returns a farm command line without what must not be kept:
// the value of every --build-arg KEY=VALUE (in either form, --build-arg=K=V
// or --build-arg K=V) becomes KEY=<redacted>, and the password of any URI
// (scheme://user:password@host) becomes xxxxx. --build-arg KEY, which takes
// the value from the environment, and every other argument are kept.
func RedactArgs(args []string) []string {
	out := make([]string, 0, len(args))
	buildArgValue := false // the previous argument was a bare --build-arg
	for _, a := range args {
		switch {
		case buildArgValue:
			a = redactValue(a)
		case strings.HasPrefix(a, "--build-arg="):
			a = "--build-arg=" + redactValue(strings.TrimPrefix(a, "--build-arg="))
		}
		buildArgValue = a == "--build-arg"
		out = append(out, uriPassword.ReplaceAllString(a, "${1}:xxxxx@"))
	}
	return out
}

// redactValue turns KEY=VALUE into KEY=<redacted>.
func redactValue(kv string) string {
	key, _, ok := strings.Cut(kv, "=")
	if !ok {
		return kv
	}
	return key + "=" + Redacted
}

// argsScrubbed is the database's user_version once the arguments older
// farms recorded whole are redacted.
const argsScrubbed = 1

// scrubArgs redacts the arguments of builds recorded before Start redacted
// them, and rebuilds the file so that no copy of them is left in its free
// pages. It runs until it succeeds once per database.
func (r *Records) scrubArgs() error {
	var version int
	if err := r.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version >= argsScrubbed {
		return nil
	}
	rows, err := r.db.Query(`SELECT id, args FROM builds`)
	if err != nil {
		return err
	}
	changed, builds := map[string]string{}, 0
	for rows.Next() {
		builds++
		var id string
		var stored *string
		if err := rows.Scan(&id, &stored); err != nil {
			rows.Close()
			return err
		}
		var args []string
		if stored == nil || json.Unmarshal([]byte(*stored), &args) != nil {
			continue
		}
		if redacted := RedactArgs(args); !slices.Equal(redacted, args) {
			data, _ := json.Marshal(redacted)
			changed[id] = string(data)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(changed) > 0 {
		tx, err := r.db.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
		for id, args := range changed {
			if _, err := tx.Exec(`UPDATE builds SET args = ? WHERE id = ?`, args, id); err != nil {
				return fmt.Errorf("build %s: %w", id, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	if builds > 0 {
		if _, err := r.db.Exec(`VACUUM`); err != nil {
			return fmt.Errorf("rebuilding the database without the old values: %w", err)
		}
	}
	_, err = r.db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, argsScrubbed))
	return err
}
