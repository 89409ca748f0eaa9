package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
)

// Manifest is what a files backup records of its source: how many regular files and
// bytes it saw, and the SHA-256 of a sample of files, so that a drill can prove that
// restored content is the content that was backed up (not only that restic agrees
// with itself).
type Manifest struct {
	Files  int          `json:"files"`
	Bytes  int64        `json:"bytes"`
	Roots  []Root       `json:"roots,omitempty"`
	Sample []SampleFile `json:"sample"`
}

// Root is one path backed up (a configured path, or what it links to) and how many
// regular files and bytes the walk saw below it.
type Root struct {
	Path  string `json:"path"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	// unreadable is the first error met reading below Path (not kept in the manifest).
	unreadable error
}

// SampleFile is one sampled file as it was when the backup started.
type SampleFile struct {
	Path   string    `json:"path"`
	Size   int64     `json:"size"`
	MTime  time.Time `json:"mtime"`
	SHA256 string    `json:"sha256"`
}

// Sampling bounds: the sample is the sampleCount files (of at most sampleMaxSize
// bytes) whose path hashes lowest, a choice spread over the tree that stays the same
// from one backup to the next while the files stay.
const (
	sampleCount   = 16
	sampleMaxSize = 16 << 20
)

// manifest walks the paths (leaving out what the exclude patterns match, as restic
// does for patterns of one path element or a whole path) and hashes the sample.
// Files that cannot be read are left out: restic reports them itself.
func (t *Target) manifest(ctx context.Context, paths []string) (*Manifest, error) {
	m := &Manifest{}
	type cand struct {
		path string
		rank uint64
		info fs.FileInfo
	}
	var cands []cand
	for _, root := range paths {
		m.Roots = append(m.Roots, Root{Path: root})
		rc := &m.Roots[len(m.Roots)-1]
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if rc.unreadable == nil {
					rc.unreadable = err
				}
				return nil // unreadable: restic reports it
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if t.excluded(p) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			m.Files++
			m.Bytes += info.Size()
			rc.Files++
			rc.Bytes += info.Size()
			if info.Size() <= sampleMaxSize {
				h := fnv.New64a()
				h.Write([]byte(p))
				cands = append(cands, cand{p, h.Sum64(), info})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].rank < cands[j].rank })
	for _, c := range cands {
		if len(m.Sample) == sampleCount {
			break
		}
		sum, err := hashFile(c.path)
		if err != nil {
			continue
		}
		m.Sample = append(m.Sample, SampleFile{Path: c.path, Size: c.info.Size(), MTime: c.info.ModTime(), SHA256: sum})
	}
	sort.Slice(m.Sample, func(i, j int) bool { return m.Sample[i].Path < m.Sample[j].Path })
	return m, nil
}

// excluded applies the exclude patterns the way restic does for the patterns
// filepath.Match understands: a pattern without a slash matches any element of the
// path, one with a slash the whole path.
func (t *Target) excluded(p string) bool {
	for _, pat := range t.cfg.Exclude {
		if strings.Contains(pat, "/") {
			if ok, _ := filepath.Match(pat, p); ok {
				return true
			}
			continue
		}
		for _, el := range strings.Split(p, "/") {
			if ok, _ := filepath.Match(pat, el); ok && el != "" {
				return true
			}
		}
	}
	return false
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var _ targets.Driller = (*Target)(nil)

// DrillSteps restores the snapshot into the drill's scratch folder, compares every
// restored file with the snapshot's listing (count, type, size), hashes the files
// sampled at backup time and compares them with what the backup saw, and removes the
// restored tree. What the steps say is in the message catalog (runbooks/msg).
func (t *Target) DrillSteps(r targets.Reader, env *targets.DrillEnv) []targets.DrillStep {
	dir := filepath.Join(env.Scratch, "restore")
	return []targets.DrillStep{
		{Key: "restore", Activity: msg.New("files.restore.title"),
			Do: func(ctx context.Context) (msg.Message, error) {
				if err := targets.PrepareDir(dir, false); err != nil {
					return msg.Message{}, err
				}
				if err := r.RestoreTo(ctx, dir, nil); err != nil {
					return msg.Message{}, err
				}
				files, bytes, err := treeSize(dir)
				env.Restored(bytes)
				return msg.New("files.restore.done", "files", files, "bytes", bytes), err
			}},
		{Key: "verify-listing", Activity: msg.New("files.listing.title"), Verify: true,
			Do: func(ctx context.Context) (msg.Message, error) { return compareListing(ctx, r, dir, env) }},
		{Key: "verify-sample", Activity: msg.New("files.sample.title"), Verify: true,
			Do: func(ctx context.Context) (msg.Message, error) { return compareSample(ctx, r, dir, env) }},
		{Key: "cleanup", Activity: msg.New("files.cleanup.title"), Always: true,
			Do: func(ctx context.Context) (msg.Message, error) {
				if err := os.RemoveAll(dir); err != nil {
					return msg.Message{}, err
				}
				return msg.New("files.cleanup.done", "dir", dir), nil
			}},
	}
}

func treeSize(dir string) (files int, bytes int64, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			files++
			bytes += info.Size()
		}
		return nil
	})
	return files, bytes, err
}

// compareListing checks that every entry restic lists is restored with its type and
// size, and that nothing else is there.
func compareListing(ctx context.Context, r targets.Reader, dir string, env *targets.DrillEnv) (msg.Message, error) {
	l, ok := r.(targets.Lister)
	if !ok {
		return msg.Message{}, errors.New("this reader cannot list the snapshot")
	}
	entries, err := l.List(ctx)
	if err != nil {
		return msg.Message{}, err
	}
	listed := map[string]targets.Entry{}
	var problems []msg.Message
	files := 0
	var bytes uint64
	for _, e := range entries {
		listed[e.Path] = e
		if e.Type != "file" {
			continue
		}
		files++
		bytes += e.Size
		st, err := os.Lstat(filepath.Join(dir, e.Path))
		switch {
		case err != nil:
			problems = append(problems, msg.New("files.problem.missing", "path", e.Path))
		case !st.Mode().IsRegular():
			problems = append(problems, msg.New("files.problem.type", "path", e.Path, "type", st.Mode().Type().String()))
		case uint64(st.Size()) != e.Size:
			problems = append(problems, msg.New("files.problem.size", "path", e.Path, "got", st.Size(), "want", e.Size))
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel := strings.TrimPrefix(p, dir)
		if _, ok := listed[rel]; !ok {
			problems = append(problems, msg.New("files.problem.extra", "path", rel))
		}
		return nil
	})
	if err != nil {
		return msg.Message{}, err
	}
	found := msg.New("files.listing.ok", "files", files, "bytes", bytes)
	if len(problems) > 0 {
		found = msg.New("files.listing.differ", "n", len(problems), "files", files, "first", problems[0])
	}
	env.Check(targets.DrillCheck{What: msg.New("files.listing.check"), Passed: len(problems) == 0, Found: found})
	if len(problems) > 0 {
		return msg.Message{}, &msg.Error{Msg: found}
	}
	return found, nil
}

// compareSample hashes the restored copies of the files sampled at backup time. A file
// that changed while the backup ran (its listed size or time differs from the
// sample's) is not comparable and is said so; it does not fail the drill.
func compareSample(ctx context.Context, r targets.Reader, dir string, env *targets.DrillEnv) (msg.Message, error) {
	what := msg.New("files.sample.check")
	var m Manifest
	if len(env.Manifest) == 0 || json.Unmarshal(env.Manifest, &m) != nil || len(m.Sample) == 0 {
		found := msg.New("files.sample.none")
		env.Check(targets.DrillCheck{What: what, Passed: true, Found: found})
		return found, nil
	}
	l, ok := r.(targets.Lister)
	if !ok {
		return msg.Message{}, errors.New("this reader cannot list the snapshot")
	}
	entries, err := l.List(ctx)
	if err != nil {
		return msg.Message{}, err
	}
	listed := map[string]targets.Entry{}
	for _, e := range entries {
		listed[e.Path] = e
	}
	same, changed := 0, 0
	var bad []msg.Message
	for _, s := range m.Sample {
		e, ok := listed[s.Path]
		if !ok || e.Size != uint64(s.Size) || !e.MTime.Equal(s.MTime) {
			changed++
			continue
		}
		sum, err := hashFile(filepath.Join(dir, s.Path))
		if err != nil {
			bad = append(bad, msg.New("files.problem.read", "path", s.Path, "err", err))
			continue
		}
		if sum != s.SHA256 {
			bad = append(bad, msg.New("files.problem.hash", "path", s.Path, "got", sum[:12], "want", s.SHA256[:min(12, len(s.SHA256))]))
			continue
		}
		same++
	}
	found := msg.New("files.sample.ok", "same", same, "n", len(m.Sample))
	if changed > 0 {
		found = msg.New("files.sample.changed", "same", same, "n", len(m.Sample), "changed", changed)
	}
	if len(bad) > 0 {
		found = msg.New("files.sample.differ", "bad", len(bad), "n", len(m.Sample), "first", bad[0])
	}
	env.Check(targets.DrillCheck{What: what, Passed: len(bad) == 0, Found: found})
	if len(bad) > 0 {
		return msg.Message{}, &msg.Error{Msg: found}
	}
	return found, nil
}
