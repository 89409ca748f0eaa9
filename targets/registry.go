package targets

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
)

// Kind is one kind of target (files, postgres, ...). Kinds register themselves from their
// package's init function; the engine's config loader imports them all.
type Kind struct {
	Name string // the value of `kind:` and the name of the kind's section in a target
	// NewConfig returns a pointer to a new config struct, with defaults set, that the
	// loader fills from the target's kind section. If it has a method
	// `Validate(report func(field, msg string))` the loader calls it.
	NewConfig func() any
	// New builds a target from a validated config.
	New func(spec Spec) (Target, error)
	// Stream, if set, produces a stream for a snapshot in a child process: StreamSpec
	// argv may be SelfCommand(kind, file) and `cadang internal-stream` calls this with
	// the file. It lets one snapshot hold output composed from several commands.
	Stream func(ctx context.Context, specFile string, out io.Writer) error
}

// Spec is what a kind needs to build a target.
type Spec struct {
	Name   string
	Agency string
	Config any // the value NewConfig returned, filled and validated
	Logger *slog.Logger
}

var (
	mu    sync.RWMutex
	kinds = map[string]Kind{}
)

// Register adds a kind. It panics on a duplicate or incomplete kind: that is a
// programming error found at start-up.
func Register(k Kind) {
	if k.Name == "" || k.NewConfig == nil || k.New == nil {
		panic(fmt.Sprintf("targets: kind %q is incomplete", k.Name))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic(fmt.Sprintf("targets: kind %q registered twice", k.Name))
	}
	kinds[k.Name] = k
}

// Lookup returns a registered kind.
func Lookup(name string) (Kind, bool) {
	mu.RLock()
	defer mu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Kinds returns the names of all registered kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SelfExecutable is the path of the running cadang binary, used by SelfCommand. Tests
// that run kinds outside the cadang binary set it to a built cadang.
var SelfExecutable = ""

// SelfCommand returns the argv that makes the cadang binary run kind's Stream function
// on specFile (see Kind.Stream).
func SelfCommand(kind, specFile string) []string {
	return []string{SelfExecutable, "internal-stream", kind, specFile}
}
