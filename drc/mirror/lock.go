package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"sync"
	"time"

	"github.com/cadang/cadang/drc"
	"github.com/cadang/cadang/drc/resticfmt"
)

// repoLock is a restic lock held by cadang itself (not by a restic process): a file in
// locks/ that every restic honours. Replication takes an exclusive one at a secondary
// while it deletes there (so that no restic backup, restore or check runs on objects
// being deleted), and a shared one at a destination it brings objects back to (so that
// a prune there cannot remove a pack file before the index that lists it arrives).
//
// The lock names the daemon's pid. restic's `unlock` probes a lock of its own host by
// sending SIGHUP to that pid, so the daemon ignores SIGHUP.
type repoLock struct {
	store drc.Store
	key   *resticfmt.Key
	log   *slog.Logger
	what  string // for messages: drc "x", agency "y"

	mu   sync.Mutex
	name string // locks/<id> of the current lock file
	stop chan struct{}
	done chan struct{}
}

// Lock timing, as restic's: a lock is refreshed every 5 minutes and considered stale
// after 30; after writing its lock, a locker waits a moment and looks again, so that
// two lockers that raced both see each other.
var (
	lockRefresh = 5 * time.Minute
	lockSettle  = 200 * time.Millisecond
)

// LockedError means another process holds a lock that conflicts.
type LockedError struct {
	What  string
	Other resticfmt.Lock
}

func (e *LockedError) Error() string {
	kind := "a lock"
	if e.Other.Exclusive {
		kind = "an exclusive lock"
	}
	return fmt.Sprintf("%s: the repository holds %s of pid %d on %s (since %s)", e.What, kind, e.Other.PID, e.Other.Hostname,
		e.Other.Time.Format(time.RFC3339))
}

// Is makes a LockedError match ErrLocked, as restic's exit code 11 does.
func (e *LockedError) Is(target error) bool { return target == drc.ErrLocked }

// lockRepo takes a lock on repo: exclusive or shared.
func lockRepo(ctx context.Context, repo *drc.Repo, key *resticfmt.Key, exclusive bool, log *slog.Logger) (*repoLock, error) {
	l := &repoLock{store: repo.Store, key: key, log: log, what: fmt.Sprintf("drc %q, agency %q", repo.DRC, repo.Agency)}
	if err := l.check(ctx, exclusive); err != nil {
		return nil, err
	}
	if err := l.write(ctx, exclusive); err != nil {
		return nil, err
	}
	select {
	case <-time.After(lockSettle):
	case <-ctx.Done():
		l.release()
		return nil, ctx.Err()
	}
	if err := l.check(ctx, exclusive); err != nil {
		l.release()
		return nil, err
	}
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go l.refresh(exclusive)
	return l, nil
}

// check looks for locks of others that conflict: any lock when taking an exclusive
// one, an exclusive one when taking a shared one. Stale locks (older than restic's
// limit) are ignored, as restic ignores them.
func (l *repoLock) check(ctx context.Context, exclusive bool) error {
	l.mu.Lock()
	own := l.name
	l.mu.Unlock()
	var names []string
	err := l.store.List(ctx, "locks/", func(o drc.ObjectInfo) error {
		if o.Name != own {
			names = append(names, o.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: listing locks: %w", l.what, err)
	}
	for _, name := range names {
		data, err := drc.ReadObject(ctx, l.store, name)
		if err != nil {
			if isNotExist(err) {
				continue // removed meanwhile
			}
			return fmt.Errorf("%s: %s: %w", l.what, name, err)
		}
		other, err := l.key.DecodeLock(data)
		if err != nil {
			return fmt.Errorf("%s: %s cannot be read (%v): it may be another program's lock", l.what, name, err)
		}
		if time.Since(other.Time) > resticfmt.StaleLockAge {
			continue
		}
		if exclusive || other.Exclusive {
			return &LockedError{What: l.what, Other: *other}
		}
	}
	return nil
}

func (l *repoLock) write(ctx context.Context, exclusive bool) error {
	host, _ := os.Hostname()
	lk := resticfmt.Lock{Time: time.Now(), Exclusive: exclusive, Hostname: host, PID: os.Getpid()}
	if u, err := user.Current(); err == nil {
		lk.Username = u.Username
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		lk.UID, lk.GID = uint32(uid), uint32(gid)
	}
	data, id := l.key.EncodeLock(lk)
	name := "locks/" + id.String()
	if err := l.store.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("%s: writing a lock: %w", l.what, err)
	}
	l.mu.Lock()
	old := l.name
	l.name = name
	l.mu.Unlock()
	if old != "" {
		if err := l.store.Delete(ctx, old); err != nil {
			l.log.Warn("could not remove a replaced lock", "lock", old, "err", err)
		}
	}
	return nil
}

func (l *repoLock) refresh(exclusive bool) {
	defer close(l.done)
	t := time.NewTicker(lockRefresh)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if err := l.write(ctx, exclusive); err != nil {
				l.log.Warn("could not refresh a lock", "err", err)
			}
			cancel()
		}
	}
}

// release removes the lock; it works even when the context of the work has ended.
func (l *repoLock) release() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
	}
	l.mu.Lock()
	name := l.name
	l.name = ""
	l.mu.Unlock()
	if name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.store.Delete(ctx, name); err != nil {
		l.log.Warn("could not remove cadang's lock; restic ignores it after 30 minutes", "lock", name, "err", err)
	}
}

func isNotExist(err error) bool { return errors.Is(err, drc.ErrNotExist) }
