package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Spool is the folder of one target's segments waiting to be archived
// (state_dir/wal/TARGET). Every file in it is whole and fsynced: a file is written
// under a temporary name and renamed once synced.
type Spool struct {
	Dir string
}

const (
	tmpPrefix = ".tmp-"
	lastFile  = ".last-archived" // the newest segment a recorded snapshot holds
)

// Open returns the spool in dir, created (0700) if missing.
func Open(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("WAL spool: %w", err)
	}
	return &Spool{Dir: dir}, nil
}

// Put stores the file name read from r, synced to disk before it returns. A file of
// that name already spooled with the same content is success (PostgreSQL archives a
// segment again after a crash between archiving and recording it); with other content
// it is an error, as PostgreSQL's documentation asks of an archive_command.
func (s *Spool) Put(name string, r io.Reader) error {
	if !ValidName(name) {
		return fmt.Errorf("%q is not a WAL file name", name)
	}
	tmp, err := os.CreateTemp(s.Dir, tmpPrefix+name+"-")
	if err != nil {
		return fmt.Errorf("WAL spool: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("WAL spool: writing %s: %w", name, err)
	}
	final := filepath.Join(s.Dir, name)
	if same, err := sameContent(tmp.Name(), final); err != nil || same {
		return err
	} else if _, err := os.Stat(final); err == nil {
		return fmt.Errorf("WAL spool: %s is already spooled with other content", name)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("WAL spool: %w", err)
	}
	return syncDir(s.Dir)
}

// sameContent reports whether b exists with a's content.
func sameContent(a, b string) (bool, error) {
	bb, err := os.ReadFile(b)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("WAL spool: %w", err)
	}
	ab, err := os.ReadFile(a)
	if err != nil {
		return false, fmt.Errorf("WAL spool: %w", err)
	}
	return bytes.Equal(ab, bb), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("WAL spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("WAL spool: syncing %s: %w", dir, err)
	}
	return nil
}

// Names returns the files spooled, sorted.
func (s *Spool) Names() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("WAL spool: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && ValidName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Remove removes files once a recorded snapshot holds them, and remembers the newest
// segment among them as the last archived one (the start of the next batch's chain).
func (s *Spool) Remove(names []string, size int64) error {
	if _, last := Range(names, size); last != "" {
		if err := s.setLast(last); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := os.Remove(filepath.Join(s.Dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("WAL spool: %w", err)
		}
	}
	return syncDir(s.Dir)
}

// LastArchived is the newest segment a recorded snapshot holds, or "".
func (s *Spool) LastArchived() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, lastFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("WAL spool: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (s *Spool) setLast(name string) error {
	tmp := filepath.Join(s.Dir, tmpPrefix+"last")
	if err := os.WriteFile(tmp, []byte(name+"\n"), 0o600); err != nil {
		return fmt.Errorf("WAL spool: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, lastFile)); err != nil {
		return fmt.Errorf("WAL spool: %w", err)
	}
	return nil
}

// SegmentSize is the size of the whole segments spooled (all have the server's
// wal_segment_size, 1 MiB to 1 GiB, a power of two), or DefaultSegmentSize when the
// spool holds none.
func (s *Spool) SegmentSize() int64 {
	names, _ := s.Names()
	for _, n := range names {
		if !IsSegment(n) {
			continue
		}
		if st, err := os.Stat(filepath.Join(s.Dir, n)); err == nil && st.Size() >= 1<<20 && st.Size()&(st.Size()-1) == 0 {
			return st.Size()
		}
	}
	return DefaultSegmentSize
}

// Gaps is the holes in the chain from the last archived segment through the spool.
func (s *Spool) Gaps(size int64) ([]Gap, error) {
	names, err := s.Names()
	if err != nil {
		return nil, err
	}
	last, err := s.LastArchived()
	if err != nil {
		return nil, err
	}
	return Gaps(last, names, size), nil
}

// State is what a spool holds, as an agent reports it to the controller in its
// heartbeat (the controller decides from it when to store a batch and raises the
// wal-gap alarm).
type State struct {
	Files        int    `json:"files"`
	Bytes        int64  `json:"bytes"`
	LastArchived string `json:"last_archived,omitempty"`
	Gaps         []Gap  `json:"gaps,omitempty"`
}

// State reads the spool's state.
func (s *Spool) State() (State, error) {
	names, err := s.Names()
	if err != nil {
		return State{}, err
	}
	st := State{Files: len(names)}
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(s.Dir, n)); err == nil {
			st.Bytes += fi.Size()
		}
	}
	if st.LastArchived, err = s.LastArchived(); err != nil {
		return State{}, err
	}
	st.Gaps = Gaps(st.LastArchived, names, s.SegmentSize())
	return st, nil
}
