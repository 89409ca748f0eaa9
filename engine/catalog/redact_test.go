package catalog

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A catalog written before schema 4 holds restore destinations with a password in
// their query; opening it with this cadang redacts them, in the error too.
func TestMigrationRedactsStoredDestinations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	leaky := &Run{Op: "restore", Target: "db", Status: Failed, Destination: "postgres://u@db/x?password=Rahasia9&sslmode=disable",
		Error: "cannot connect to postgres://u@db/x?password=Rahasia9&sslmode=disable"}
	plain := &Run{Op: "restore", Target: "files", Status: Succeeded, Destination: "/srv/restore"}
	for _, r := range []*Run{leaky, plain} {
		if err := c.AddRun(r); err != nil {
			t.Fatal(err)
		}
	}
	// Back to schema 3, as the older cadang left it.
	if err := c.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, u64(3)) }); err != nil {
		t.Fatal(err)
	}
	c.Close()

	c, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, _ := c.Schema(); v != SchemaVersion() || v < 4 {
		t.Fatalf("schema %d after migration", v)
	}
	r, err := c.Run(leaky.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Destination, "Rahasia9") || strings.Contains(r.Error, "Rahasia9") {
		t.Errorf("a stored password survived the migration: %q, %q", r.Destination, r.Error)
	}
	if want := "postgres://u@db/x?password=xxxxx&sslmode=disable"; r.Destination != want {
		t.Errorf("destination %q, want %q", r.Destination, want)
	}
	if r, _ := c.Run(plain.ID); r.Destination != "/srv/restore" {
		t.Errorf("a destination without secrets changed: %q", r.Destination)
	}
}
