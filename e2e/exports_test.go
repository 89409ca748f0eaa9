package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/cadang/cadang/engine/api"
	"github.com/cadang/cadang/internal/testenv"
)

// An export: the agency asks, its admin and an operator approve, the run seals the
// snapshot into a bundle encrypted to the agency's age key; the bundle decrypts with
// that identity (and no other) and holds the snapshot's files byte for byte; a
// single-use link serves once, an expired one not at all (and its bundle is deleted);
// the hand-over report is there once downloaded; neither the state dir nor the DRC
// ever holds the plaintext; the operator and the auditor cannot download.
func TestAgencyExport(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	src := filepath.Join(w.dir, "src")
	marker := "PENANDA-RAHASIA-" + testenv.Name("m")
	for name, content := range map[string]string{
		"rekam/pasien.csv":  "id,nama\n1," + marker + "\n",
		"rekam/catatan.txt": strings.Repeat("catatan medis "+marker+"\n", 5000),
		"lain/readme.txt":   "bukan untuk diekspor\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(src, name), content)
	}
	testenv.RandomFile(t, filepath.Join(src, "rekam", "scan.bin"), 3<<20, 7)
	pki := testenv.NewTLSFiles(t, t.TempDir())
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	w.config(pathDRC(w)+fmt.Sprintf(oneTarget, src),
		fmt.Sprintf("api: {listen: %q, tls: {cert_file: %q, key_file: %q}}", addr, pki.ServerCert, pki.ServerKey))
	w.startDaemon()
	if ri, r := w.backupJSON("portal-files"); ri.Status != "succeeded" {
		t.Fatalf("backup: %s", r)
	}
	n := newNetAPI(t, addr, pki)
	requester := w.token("dinkes-req", "agency-requester", "--agency", "dinkes")
	admin := w.token("dinkes-admin", "agency-admin", "--agency", "dinkes")
	ops := w.token("ops", "operator")
	bpk := w.token("bpk", "auditor")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := age.GenerateX25519Identity()
	errOf := func(body string) api.Error {
		var e api.Error
		_ = json.Unmarshal([]byte(body), &e)
		return e
	}
	// ask makes an export request, has it approved by the admin and the operator, and
	// waits for its bundle.
	ask := func(body string) api.Request {
		t.Helper()
		code, out := n.call("POST", "/v1/exports", requester, body, api.TicketHeader, "ELY-EXP-7")
		var r api.Request
		mustJSON(t, out, &r)
		if code != 202 || r.Status != "pending" || r.Kind != "export" {
			t.Fatalf("export request: %d %s", code, out)
		}
		path := fmt.Sprintf("/v1/requests/%d", r.ID)
		if code, out := n.call("POST", path+"/approve", admin, `{"comment":"disetujui"}`); code != 200 {
			t.Fatalf("admin approval: %d %s", code, out)
		}
		if code, out := n.call("POST", path+"/approve", ops, `{}`); code != 200 {
			t.Fatalf("operator approval: %d %s", code, out)
		}
		waitFor(t, "the export's bundle", 3*time.Minute, func() (bool, string) {
			_, out := n.call("GET", path, requester, "")
			mustJSON(t, out, &r)
			return r.Bundle != nil || r.RunState == "failed", out
		})
		if r.Bundle == nil {
			t.Fatalf("the export run failed: %+v\n%s", r, w.must("runs", "--limit", "3"))
		}
		return r
	}

	// Bad requests are refused with the reason.
	for body, want := range map[string]string{
		`{"target":"portal-files"}`:                                                                    "recipients",
		`{"target":"portal-files","recipients":["age1nope"]}`:                                          "malformed age public key",
		`{"target":"portal-files","recipients":["` + id.Recipient().String() + `"],"paths":["rekam"]}`: "absolute path",
		`{"target":"portal-files","recipients":["` + id.Recipient().String() + `"],"expires":"30d"}`:   "at most 7d",
	} {
		if code, out := n.call("POST", "/v1/exports", requester, body); code != 400 || !strings.Contains(out, want) {
			t.Errorf("export %s: %d %s, want 400 with %q", body, code, out, want)
		}
	}
	if code, out := n.call("POST", "/v1/exports", ops, `{"target":"portal-files","recipients":["`+id.Recipient().String()+`"]}`); code != 403 {
		t.Errorf("an operator asks for an export: %d %s", code, out)
	}

	// A single-use export of one folder.
	rekam := filepath.Join(src, "rekam")
	r := ask(fmt.Sprintf(`{"target":"portal-files","paths":[%q],"recipients":[%q],"single_use":true}`, rekam, id.Recipient()))
	link := r.Bundle.Link
	if code, out := n.call("GET", link, ops, ""); code != 403 {
		t.Errorf("the operator downloads: %d %.200s", code, out)
	}
	if code, out := n.call("GET", link, bpk, ""); code != 403 {
		t.Errorf("the auditor downloads: %d %.200s", code, out)
	}
	if code, _ := n.call("GET", fmt.Sprintf("/v1/exports/%d/handover", r.ID), requester, ""); code != 409 {
		t.Errorf("a hand-over before the download: %d, want 409", code)
	}
	code, bundle := n.call("GET", link, requester, "")
	if code != 200 || int64(len(bundle)) != r.Bundle.Bytes {
		t.Fatalf("download: %d, %d bytes of %d", code, len(bundle), r.Bundle.Bytes)
	}
	if sum := sha256.Sum256([]byte(bundle)); hex.EncodeToString(sum[:]) != r.Bundle.SHA256 {
		t.Errorf("the bundle's SHA-256 differs from the request's")
	}
	if strings.Contains(bundle, marker) {
		t.Error("the bundle holds the plaintext")
	}
	files := untar(t, openBundle(t, []byte(bundle), id))
	want := map[string]string{}
	_ = filepath.WalkDir(rekam, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			want[p] = string(b)
		}
		return nil
	})
	if len(files) != len(want) {
		t.Errorf("the bundle holds %d files, want %d (%v)", len(files), len(want), keys(files))
	}
	for p, content := range want {
		got, ok := files[strings.TrimPrefix(p, "/")]
		if !ok {
			got, ok = files[strings.TrimPrefix(p, rekam+"/")]
		}
		if !ok || got != content {
			t.Errorf("%s in the bundle: found %v, same bytes %v (entries %v)", p, ok, got == content, keys(files))
		}
	}
	if _, err := age.Decrypt(bytes.NewReader([]byte(bundle)), stranger); err == nil {
		t.Error("the bundle opens with another identity")
	}
	if code, out := n.call("GET", link, requester, ""); code != 410 || errOf(out).Code != "gone" {
		t.Errorf("a single-use link used twice: %d %s", code, out)
	}
	code, pdf := n.call("GET", fmt.Sprintf("/v1/exports/%d/handover?format=pdf", r.ID), requester, "")
	if code != 200 || !strings.HasPrefix(pdf, "%PDF") {
		t.Errorf("the hand-over report: %d %.100s", code, pdf)
	}
	code, html := n.call("GET", fmt.Sprintf("/v1/exports/%d/handover?format=html", r.ID), admin, "")
	if code != 200 || !strings.Contains(html, "SERAH TERIMA") && !strings.Contains(html, "Serah Terima") || !strings.Contains(html, r.Bundle.SHA256) {
		t.Errorf("the hand-over report in HTML: %d %.300s", code, html)
	}
	var after api.Request
	_, out := n.call("GET", fmt.Sprintf("/v1/requests/%d", r.ID), requester, "")
	mustJSON(t, out, &after)
	if b := after.Bundle; b == nil || len(b.Downloads) != 1 || b.Downloads[0].By != "token:dinkes-req" || b.Deleted.IsZero() {
		t.Errorf("after the single download: %+v", b)
	}

	// An export whose link expires: the download after expiry is refused, the bundle deleted.
	r2 := ask(fmt.Sprintf(`{"target":"portal-files","recipients":[%q],"expires":"3s"}`, id.Recipient()))
	object := filepath.Join(w.dir, "drc", "_exports", "dinkes", fmt.Sprintf("%d.tar.zst.age", r2.ID))
	if _, err := os.Stat(object); err != nil {
		t.Errorf("the bundle at the DRC: %v", err)
	}
	time.Sleep(time.Until(r2.Bundle.Expires) + 500*time.Millisecond)
	if code, out := n.call("GET", r2.Bundle.Link, requester, ""); code != 410 || errOf(out).Code != "gone" {
		t.Errorf("an expired link: %d %s", code, out)
	}
	if _, err := os.Stat(object); !os.IsNotExist(err) {
		t.Errorf("the expired bundle is still at the DRC: %v", err)
	}

	// No plaintext anywhere on the operator's side.
	for _, dir := range []string{w.stateDir, filepath.Join(w.dir, "drc")} {
		_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) {
				t.Errorf("%s holds the plaintext", p)
			}
			return nil
		})
	}
	if strings.Contains(w.log(), marker) {
		t.Error("the daemon's log holds the plaintext")
	}

	// The audit log: each download once, the refusals too.
	var entries []api.AuditEntry
	mustJSON(t, w.must("audit", "--json").stdout, &entries)
	seen := map[string]int{}
	for _, e := range entries {
		seen[fmt.Sprintf("%d %s %s %s", e.Status, e.Principal, e.Action, e.Object)]++
	}
	one := fmt.Sprintf("request %d", r.ID)
	for k, want := range map[string]int{
		"200 token:dinkes-req GET /v1/exports/{id}/download " + one: 1,
		"410 token:dinkes-req GET /v1/exports/{id}/download " + one: 1,
		"403 token:ops GET /v1/exports/{id}/download " + one:        1,
		"403 token:bpk GET /v1/exports/{id}/download " + one:        1,
		"202 token:dinkes-req POST /v1/exports portal-files":        2,
	} {
		if seen[k] != want {
			t.Errorf("audit log: %d x %q, want %d", seen[k], k, want)
		}
	}
	if t.Failed() {
		t.Logf("audit log: %v", seen)
	}
}

// openBundle decrypts and decompresses a bundle: the tar it holds.
func openBundle(t *testing.T, b []byte, id age.Identity) []byte {
	t.Helper()
	r, err := age.Decrypt(bytes.NewReader(b), id)
	if err != nil {
		t.Fatalf("age: %v", err)
	}
	zr, err := zstd.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("zstd: %v", err)
	}
	return out
}

// untar returns the regular files of a tar by name.
func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		if h.Typeflag == tar.TypeReg {
			c, _ := io.ReadAll(tr)
			out[strings.TrimPrefix(h.Name, "/")] = string(c)
		}
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
