package export

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

func TestParseRecipients(t *testing.T) {
	x := identity(t)
	pq, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sshLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " operator@diskominfo"
	rs, err := ParseRecipients([]string{" " + x.Recipient().String() + "\n", sshLine})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 {
		t.Fatalf("%d recipients", len(rs))
	}
	if _, err := ParseRecipients([]string{pq.Recipient().String()}); err != nil {
		t.Errorf("post-quantum key: %v", err)
	}
	// The SSH recipient really is the key: its identity opens the bundle.
	sshID, err := agessh.NewEd25519Identity(priv)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := buildTar(t, 1024)
	bundle, _, err := seal(t, plain, rs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []age.Identity{x, sshID} {
		r, err := Open(bytes.NewReader(bundle), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r); !bytes.Equal(got, plain) {
			t.Error("round trip differs")
		}
	}
}

func TestParseRecipientsErrors(t *testing.T) {
	good := identity(t).Recipient().String()
	secret := identity(t).String()
	bad := good[:len(good)-3] + "qqq" // checksum broken
	for _, tc := range []struct {
		name   string
		keys   []string
		want   []string // in the error
		hidden string   // never in the error
	}{
		{"none", nil, []string{"no recipient"}, ""},
		{"empty", []string{good, "  "}, []string{"recipient 2 of 2", "empty"}, ""},
		{"secret key", []string{secret}, []string{"recipient 1 of 1", "secret key"}, secret[15:]},
		{"broken age key", []string{good, good, bad}, []string{"recipient 3 of 3", "malformed age public key", bad[:10] + "…"}, bad},
		{"ssh private key", []string{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"}, []string{"recipient 1 of 1", "private key"}, "b3BlbnNzaC1rZXktdjEAAAAA"},
		{"ecdsa", []string{"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= a@b"}, []string{"recipient 1 of 1", "unsupported SSH key type"}, "AAAAE2VjZHNh"},
		{"broken ssh key", []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrokenBrokenBrokenBrokenBrokenBrokenBroken x@y"}, []string{"recipient 1 of 1", "malformed SSH public key", "ssh-ed25519 AAAAC3NzaC…Broken"}, ""},
		{"garbage", []string{"hello world"}, []string{"recipient 1 of 1", "not a public key"}, "hello"},
	} {
		_, err := ParseRecipients(tc.keys)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error is not one line: %q", tc.name, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", tc.name, msg, w)
			}
		}
		if tc.hidden != "" && strings.Contains(msg, tc.hidden) {
			t.Errorf("%s: error %q echoes %q", tc.name, msg, tc.hidden)
		}
	}
}
