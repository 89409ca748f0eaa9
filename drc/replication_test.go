package drc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cadang/cadang/drc"
)

func TestRate(t *testing.T) {
	for in, want := range map[string]drc.Rate{
		"1000": 1000, "500KB/s": 500e3, "20MiB/s": 20 << 20, "100Mbit/s": 100e6 / 8, "8mbps": 1e6, "1 GiB/s": 1 << 30, "2.5MB": 2.5e6,
	} {
		var r drc.Rate
		if err := r.UnmarshalText([]byte(in)); err != nil || r != want {
			t.Errorf("%q: %v %v, want %v", in, r, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1MB/s", "10 parsecs"} {
		var r drc.Rate
		if err := r.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q parsed as %v", in, r)
		}
	}
	if s := drc.Rate(20 << 20).String(); s != "20.0MiB/s" {
		t.Errorf("String: %s", s)
	}
}

func TestReplicationConfig(t *testing.T) {
	var got []string
	c := drc.Config{Name: "local", Role: drc.RolePrimary, Path: "/srv/x", Replication: drc.Replication{Workers: 100, DeleteAfter: -1}}
	c.Validate(func(f, m string) { got = append(got, f+": "+m) })
	want := []string{
		"replication: applies to a secondary DRC only (the primary is what is replicated)",
		"replication.workers: 100: give 1 to 64 parallel transfers",
		"replication.delete_after: must not be negative (deletions never reach a secondary at once)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	eff := drc.Replication{}.Effective()
	if eff.Workers != 8 || eff.DeleteAfter != 7*24*time.Hour || eff.Interval != 5*time.Minute {
		t.Errorf("defaults: %+v", eff)
	}
	off := false
	if !eff.Overlaps() || (drc.Replication{Overlap: &off}).Overlaps() {
		t.Errorf("overlap: on by default, off with overlap: false")
	}
}
