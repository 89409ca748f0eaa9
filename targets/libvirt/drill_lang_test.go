package libvirt

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cadang/cadang/runbooks/msg"
	"github.com/cadang/cadang/targets"
)

// englishFragments are the pieces of the catalog's English texts between their
// placeholders, of two words or more (as runbooks' TestIndonesianReportHasNoEnglish
// finds them): none may appear in an Indonesian report.
func englishFragments(t testing.TB) []*regexp.Regexp {
	t.Helper()
	var out []*regexp.Regexp
	for _, k := range msg.Keys() {
		en, id := msg.Template(k, msg.EN), msg.Template(k, msg.ID)
		if en == id {
			continue
		}
		for _, part := range regexp.MustCompile(`\{[^}]*\}`).Split(en, -1) {
			part = strings.Trim(part, " .,:;()…")
			if len(strings.Fields(part)) >= 2 {
				out = append(out, regexp.MustCompile(`\b`+regexp.QuoteMeta(part)+`\b`))
			}
		}
	}
	if len(out) < 50 {
		t.Fatalf("only %d English fragments: the test checks nothing", len(out))
	}
	return out
}

// assertIndonesian fails the test if a text of an Indonesian report holds English of
// the catalog.
func assertIndonesian(t testing.TB, frags []*regexp.Regexp, where, text string) {
	t.Helper()
	if strings.Contains(text, "{") {
		t.Errorf("%s: a placeholder is left: %q", where, text)
	}
	for _, f := range frags {
		if f.MatchString(text) {
			t.Errorf("%s: the Indonesian text holds English %q: %q", where, f.String(), text)
		}
	}
}

// Issue 13, point 23: every text of the libvirt drill is a message of the catalog,
// and none of them says English in an Indonesian report.
func TestDrillTextsInIndonesian(t *testing.T) {
	frags := englishFragments(t)
	tg := &Target{cfg: Config{Domain: "web01", ScratchDir: t.TempDir()}}
	steps := tg.DrillSteps(nil, &targets.DrillEnv{Name: "cadang_drill_1", BootSeconds: 30})
	if len(steps) != 5 {
		t.Fatalf("%d steps", len(steps))
	}
	for _, s := range steps {
		if !strings.HasPrefix(s.Activity.Key, "libvirt.") || !msg.Known(s.Activity.Key) || s.Title != "" || s.TitleID != "" {
			t.Errorf("step %s: its title is not a libvirt message of the catalog: %+v", s.Key, s.Activity)
		}
		if s.Do == nil || s.Run != nil {
			t.Errorf("step %s: its summary is not a message (Run instead of Do)", s.Key)
		}
		assertIndonesian(t, frags, "step "+s.Key, s.Heading().In(msg.ID))
	}

	// What the steps can say, in every case.
	var said []msg.Message
	for _, differ := range [][]string{nil, {"47"}, {"3", "47"}} {
		for _, written := range []int64{0, 1 << 20, -1} {
			found, passed := liveSampleFound(16, differ, written)
			if passed != (len(differ) == 0 || written != 0) {
				t.Errorf("%v differ, %d written: passed %v", differ, written, passed)
			}
			said = append(said, found, msg.New("libvirt.live.disk", "disk", "vda", "detail", found))
		}
	}
	said = append(said, joinParts([]msg.Message{msg.New("libvirt.live.no_disk", "disk", "vdb"), said[8], said[12]}))
	for st := golibvirt.DomainNostate; st <= golibvirt.DomainPmsuspended+1; st++ {
		said = append(said, msg.New("libvirt.boot.stopped", "state", stateMessage(int32(st)), "after", 3))
	}
	for _, m := range said {
		assertIndonesian(t, frags, m.In(msg.EN), m.In(msg.ID))
	}
	written, _ := liveSampleFound(16, []string{"47"}, 1<<20)
	if got := written.In(msg.EN); got != "15 of 16 sampled blocks as in the snapshot; blocks 47 differ, and 1.0 MiB were written to the disk since the backup" {
		t.Errorf("English: %s", got)
	}
	if got := written.In(msg.ID); got != "15 dari 16 blok sampel sesuai dengan snapshot; blok 47 berbeda, dan 1,0 MiB telah ditulis ke disk sejak pencadangan" {
		t.Errorf("Indonesian: %s", got)
	}

	// Every libvirt message, whatever its arguments.
	n := 0
	for _, k := range msg.Keys() {
		if !strings.HasPrefix(k, "libvirt.") {
			continue
		}
		n++
		var args []any
		for _, p := range regexp.MustCompile(`\{([a-z_]+)[^}]*\}`).FindAllStringSubmatch(msg.Template(k, msg.EN), -1) {
			args = append(args, p[1], 2)
		}
		m := msg.New(k, args...)
		en, id := m.In(msg.EN), m.In(msg.ID)
		assertIndonesian(t, frags, k, id)
		if msg.Template(k, msg.EN) == msg.Template(k, msg.ID) && !sameInBoth[k] {
			t.Errorf("%s: the same in both languages: %q", k, en)
		}
	}
	if n < 30 {
		t.Errorf("only %d libvirt messages", n)
	}
}

// sameInBoth are the libvirt messages that say the same in both languages: they only
// put other messages and names together.
var sameInBoth = map[string]bool{"libvirt.live.disk": true, "libvirt.live.and": true, "libvirt.boot.domain": true}

// runDrill runs the drill steps as the engine does (targettest.RunDrill) and checks
// that what they said, rendered for an Indonesian report, is messages of the catalog
// in Bahasa Indonesia: titles, summaries, errors, checks.
func runDrill(t testing.TB, steps []targets.DrillStep, env *targets.DrillEnv) error {
	t.Helper()
	frags := englishFragments(t)
	record := env.Check
	var checks []targets.DrillCheck
	env.Check = func(c targets.DrillCheck) { checks = append(checks, c); record(c) }
	defer func() { env.Check = record }()
	var first error
	for _, st := range steps {
		if first != nil && !st.Always {
			continue
		}
		assertIndonesian(t, frags, "step "+st.Key, st.Heading().In(msg.ID))
		summary, err := st.Exec(context.Background())
		if err != nil {
			if first == nil {
				first = fmt.Errorf("step %s: %w", st.Key, err)
			}
			continue
		}
		if summary.Key == "" && summary.Text != "" {
			t.Errorf("step %s: its summary is plain text, not a message: %q", st.Key, summary.Text)
		}
		assertIndonesian(t, frags, "summary of "+st.Key, summary.In(msg.ID))
	}
	for _, c := range checks {
		if c.What.Key == "" || (c.Passed && c.Found.Key == "") {
			t.Errorf("check %q: not a message of the catalog", c.Checked())
		}
		assertIndonesian(t, frags, "check "+c.Checked().String(), c.Checked().In(msg.ID)+": "+c.Result().In(msg.ID))
	}
	return first
}
