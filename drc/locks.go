package drc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Lock is a restic lock found in a repository: who holds it and since when.
type Lock struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
	UID       uint32    `json:"uid,omitempty"`
	GID       uint32    `json:"gid,omitempty"`
}

// String names the holder of the lock, for messages.
func (l Lock) String() string {
	kind := "lock"
	if l.Exclusive {
		kind = "exclusive lock"
	}
	user := ""
	if l.Username != "" {
		user = fmt.Sprintf(" (user %s)", l.Username)
	}
	return fmt.Sprintf("%s %s held by restic pid %d on host %q%s since %s", kind, shortID(l.ID), l.PID, l.Hostname, user,
		l.Time.UTC().Format(time.RFC3339))
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Locks lists the restic locks in the repository, oldest first. A lock object that
// vanishes while it is read (its restic ended) is left out; an empty one too (restic
// ignores those: an upload that never finished).
func (r *Repo) Locks(ctx context.Context) ([]Lock, error) {
	var ids []string
	err := r.Store.List(ctx, "locks/", func(o ObjectInfo) error {
		if o.Size > 0 {
			ids = append(ids, path.Base(o.Name))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("drc %q: listing the locks of %s: %w", r.DRC, r.Agency, err)
	}
	var out []Lock
	for _, id := range ids {
		l, err := r.lock(ctx, id)
		if err != nil {
			if _, serr := r.Store.Stat(ctx, "locks/"+id); errors.Is(serr, ErrNotExist) {
				continue
			}
			return nil, err
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// lock reads one lock (`restic cat lock ID`, which needs the repository's key: locks
// are encrypted).
func (r *Repo) lock(ctx context.Context, id string) (Lock, error) {
	var out strings.Builder
	if err := r.run(ctx, call{op: "cat lock", args: []string{"cat", "lock", id, "--no-lock"}, stdout: &out}); err != nil {
		return Lock{}, err
	}
	l := Lock{ID: id}
	if err := json.Unmarshal([]byte(out.String()), &l); err != nil {
		return Lock{}, &Error{Op: "cat lock", DRC: r.DRC, Code: -1, Message: "cannot read lock " + shortID(id) + ": " + err.Error()}
	}
	l.ID = id
	return l, nil
}

// RemoveLock deletes one lock object. The caller must have proved that the process
// holding it is gone: restic trusts a lock as long as it exists.
func (r *Repo) RemoveLock(ctx context.Context, id string) error {
	if strings.ContainsAny(id, "/.") || id == "" {
		return fmt.Errorf("%q is not a lock id", id)
	}
	if err := r.Store.Delete(ctx, "locks/"+id); err != nil {
		return fmt.Errorf("drc %q: removing lock %s: %w", r.DRC, shortID(id), err)
	}
	return nil
}

// startHookKey carries a function told the process id of every restic started.
type startHookKey struct{}

// WithStartHook returns a context whose restic commands call f with their process id
// as soon as they start (before restic can take a lock), so that a caller can record
// which processes may hold locks.
func WithStartHook(ctx context.Context, f func(pid int)) context.Context {
	return context.WithValue(ctx, startHookKey{}, f)
}

func startHook(ctx context.Context) func(int) {
	f, _ := ctx.Value(startHookKey{}).(func(int))
	return f
}
