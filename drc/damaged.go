package drc

import (
	"context"
	"regexp"
	"strings"
)

// DamagedPacksError is a restic read (a restore) that failed on pack files whose data
// does not decrypt or does not match: restic names them by a short id in its
// per-file errors; Objects are their full names in the repository (data/ab/ab12…),
// for the caller to record as damaged (docs/integrity.md).
type DamagedPacksError struct {
	DRC     string
	Objects []string
	Err     error
}

func (e *DamagedPacksError) Error() string { return e.Err.Error() }
func (e *DamagedPacksError) Unwrap() error { return e.Err }

// packInError finds the pack in restic's per-file error messages about damaged data,
// as restic 0.18 words them: "decrypting blob <data/90222f22> from ba398306 failed:
// ciphertext verification failed".
var packInError = regexp.MustCompile(`from ([0-9a-f]{8,64}) failed`)

// damageWords are what restic says when the bytes it read are not what it wrote.
var damageWords = []string{"ciphertext verification failed", "hash mismatch", "does not match", "invalid data returned"}

// damagedPacks resolves the packs restic's error messages name as damaged to their
// object names: the short ids restic prints are looked up among the objects of
// data/<first two hex>/. Unresolved ids are left out (never guessed).
func (r *Repo) damagedPacks(ctx context.Context, msgs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range msgs {
		damaged := false
		for _, w := range damageWords {
			damaged = damaged || strings.Contains(m, w)
		}
		if !damaged {
			continue
		}
		for _, sm := range packInError.FindAllStringSubmatch(m, -1) {
			short := sm[1]
			dir := "data/" + short[:2] + "/"
			_ = r.Store.List(ctx, dir, func(o ObjectInfo) error {
				if strings.HasPrefix(o.Name, dir+short) && !seen[o.Name] {
					seen[o.Name] = true
					out = append(out, o.Name)
				}
				return nil
			})
		}
	}
	return out
}
