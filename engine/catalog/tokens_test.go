package catalog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T) (*Catalog, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	c, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c, path
}

func TestTokens(t *testing.T) {
	c, _ := openTemp(t)
	defer c.Close()
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	exp := t0.Add(90 * 24 * time.Hour)

	secret, tok, err := c.CreateToken("portal-elayanan", RolePortal, "", exp, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
		t.Fatalf("secret %q", secret)
	}
	if tok.Hash != tokenHash(secret) || tok.Role != RolePortal || !tok.Created.Equal(t0) || !tok.Expires.Equal(exp) {
		t.Fatalf("token %+v", tok)
	}
	s2, _, err := c.CreateToken("dinkes.admin", RoleAgencyAdmin, "dinkes", exp, t0)
	if err != nil {
		t.Fatal(err)
	}
	if s2 == secret {
		t.Fatal("two tokens with one secret")
	}

	// Listed by name, with their hashes, never their secrets.
	all, err := c.Tokens()
	if err != nil || len(all) != 2 || all[0].Name != "dinkes.admin" || all[1].Name != "portal-elayanan" || all[0].Agency != "dinkes" {
		t.Fatalf("tokens %+v, %v", all, err)
	}

	// Found by its secret, and its use recorded at most once a minute.
	got, err := c.TokenBySecret(secret, t0.Add(time.Hour))
	if err != nil || got.Name != "portal-elayanan" || !got.LastUsed.Equal(t0.Add(time.Hour)) {
		t.Fatalf("by secret: %+v, %v", got, err)
	}
	got, err = c.TokenBySecret(secret, t0.Add(time.Hour+30*time.Second))
	if err != nil || !got.LastUsed.Equal(t0.Add(time.Hour)) {
		t.Fatalf("used again within the minute: %+v, %v", got, err)
	}
	got, err = c.TokenBySecret(secret, t0.Add(time.Hour+2*time.Minute))
	if err != nil || !got.LastUsed.Equal(t0.Add(time.Hour+2*time.Minute)) {
		t.Fatalf("used a minute later: %+v, %v", got, err)
	}
	all, _ = c.Tokens()
	if !all[1].LastUsed.Equal(t0.Add(time.Hour+2*time.Minute)) || !all[0].LastUsed.IsZero() {
		t.Fatalf("last used as stored: %+v", all)
	}

	// Unknown secrets, near misses included.
	for _, s := range []string{"", "cdg_", secret + "x", secret[:len(secret)-1], strings.ToUpper(secret), s2[4:]} {
		if _, err := c.TokenBySecret(s, t0); !errors.Is(err, ErrTokenUnknown) {
			t.Fatalf("secret %q: %v, want unknown", s, err)
		}
	}

	// Expired at its expiry, not before.
	if _, err := c.TokenBySecret(s2, exp.Add(-time.Second)); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	if _, err := c.TokenBySecret(s2, exp); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	if st := all[0].Status(exp); st != "expired" {
		t.Fatalf("status %q", st)
	}

	// Revoked: refused at once, listed as revoked, its name never given again.
	if err := c.RevokeToken("portal-elayanan", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TokenBySecret(secret, t0.Add(2*time.Hour)); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	if err := c.RevokeToken("portal-elayanan", t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("revoked twice: %v", err)
	}
	all, _ = c.Tokens()
	if st := all[1].Status(t0.Add(4 * time.Hour)); st != "revoked" || !all[1].Revoked.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("revoked token listed as %q, %+v", st, all[1])
	}
	if _, _, err := c.CreateToken("portal-elayanan", RolePortal, "", exp, t0.Add(5*time.Hour)); !errors.Is(err, ErrTokenExists) {
		t.Fatalf("name reused: %v", err)
	}
	if _, _, err := c.CreateToken("dinkes.admin", RoleAgencyViewer, "dinkes", exp, t0); !errors.Is(err, ErrTokenExists) {
		t.Fatalf("name of an active token reused: %v", err)
	}
	if err := c.RevokeToken("nobody", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestTokenRefused(t *testing.T) {
	c, _ := openTemp(t)
	defer c.Close()
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	exp := t0.Add(time.Hour)
	for _, x := range []struct{ name, role, agency string }{
		{"", RoleOperator, ""},
		{strings.Repeat("a", 65), RoleOperator, ""},
		{"Ops", RoleOperator, ""},
		{"ops team", RoleOperator, ""},
		{"ops/1", RoleOperator, ""},
		{"root", "root", ""},
		{"ops", RoleOperator, "dinkes"},
		{"audit", RoleAuditor, "dinkes"},
		{"portal", RolePortal, "dinkes"},
		{"dinkes", RoleAgencyAdmin, ""},
		{"dinkes", RoleAgencyRequester, ""},
		{"dinkes", RoleAgencyViewer, ""},
	} {
		if _, _, err := c.CreateToken(x.name, x.role, x.agency, exp, t0); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%+v: %v, want invalid", x, err)
		}
	}
	if _, _, err := c.CreateToken("ops", RoleOperator, "", t0, t0); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expiring at once: %v", err)
	}
	if _, _, err := c.CreateToken(strings.Repeat("a", 64), RoleOperator, "", exp, t0); err != nil {
		t.Errorf("64 characters: %v", err)
	}
	if all, _ := c.Tokens(); len(all) != 1 {
		t.Errorf("tokens after refusals: %+v", all)
	}
}

// TestTokenSecretNeverStored looks for the secret in every key and value of the
// catalog, and in the file's bytes (free pages included), after it is closed.
func TestTokenSecretNeverStored(t *testing.T) {
	c, path := openTemp(t)
	t0 := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	var secrets []string
	for _, n := range []string{"a", "b", "c"} {
		s, _, err := c.CreateToken(n, RoleAuditor, "", t0.Add(time.Hour), t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.TokenBySecret(s, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	if err := c.RevokeToken("b", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// The secret's random part alone, too: the prefix is the same for all.
	var needles [][]byte
	for _, s := range secrets {
		needles = append(needles, []byte(s), []byte(strings.TrimPrefix(s, TokenPrefix)))
	}
	check := func(where string, b []byte) {
		t.Helper()
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Fatalf("a secret is stored in %s", where)
			}
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	var walk func(b *bolt.Bucket, at string) error
	walk = func(b *bolt.Bucket, at string) error {
		return b.ForEach(func(k, v []byte) error {
			seen++
			check(at+"/"+string(k), append(append([]byte{}, k...), v...))
			if v == nil {
				return walk(b.Bucket(k), at+"/"+string(k))
			}
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			check("bucket name", name)
			return walk(b, string(name))
		})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if seen < 6 { // three tokens, three index entries
		t.Fatalf("walked %d keys only", seen)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	check("the file's bytes", raw)
}
