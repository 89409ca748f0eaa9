package notify

import (
	"context"
	"crypto/hmac"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadang/cadang/internal/testenv"
)

// receiver is a webhook receiver that checks the signature, as a real one would.
type receiver struct {
	mu     sync.Mutex
	got    []Event
	bad    int
	down   bool
	secret []byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if !hmac.Equal([]byte(req.Header.Get(SignatureHeader)), []byte(Sign(r.secret, body))) {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.got = append(r.got, e)
}

func (r *receiver) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A condition notifies once when it begins and once when it clears, however often it
// is raised; the webhook's signature is checked by the receiver; a receiver that is
// down gets the event once it is back (retries), and a wrong secret is refused; routes
// filter by kind and agency.
func TestWebhookOnceAndRetries(t *testing.T) {
	rcv := &receiver{secret: []byte("rahasia-hmac")}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	n := New(slog.New(slog.DiscardHandler))
	n.Backoff = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	wrong := &receiver{secret: []byte("another")}
	wsrv := httptest.NewServer(wrong)
	defer wsrv.Close()
	n.SetRoutes([]Route{
		{Channel: &Webhook{ChannelName: "ops", URL: srv.URL, Secret: rcv.secret}},
		{Channel: &Webhook{ChannelName: "disdik-only", URL: wsrv.URL, Secret: rcv.secret}, Agencies: []string{"disdik"}, Kinds: []string{BackupFailed}},
	})
	e := Event{Kind: BackupFailed, Subject: "backup.failed/sehat/local", Agency: "dinkes", Target: "sehat", Title: "Pencadangan sehat gagal", Time: time.Now()}
	for range 20 { // a flapping or persisting condition
		n.Raise(e)
	}
	waitFor(t, "the first event", func() bool { return len(rcv.events()) == 1 })
	n.Clear(e)
	n.Clear(e)
	waitFor(t, "the clearing", func() bool { return len(rcv.events()) == 2 })
	if got := rcv.events(); got[0].Cleared || !got[1].Cleared || got[0].Subject != e.Subject {
		t.Errorf("events: %+v", got)
	}
	// The receiver is down for a while: the event arrives once it is back.
	rcv.mu.Lock()
	rcv.down = true
	rcv.mu.Unlock()
	n.Raise(e)
	time.Sleep(120 * time.Millisecond)
	rcv.mu.Lock()
	rcv.down = false
	rcv.mu.Unlock()
	waitFor(t, "the retried event", func() bool { return len(rcv.events()) == 3 })
	// dinkes's events never went to the disdik-only route.
	if len(wrong.events()) != 0 || wrong.bad != 0 {
		t.Errorf("the disdik-only channel got dinkes's events: %d (%d refused)", len(wrong.events()), wrong.bad)
	}
	// A channel with the wrong secret is refused by the receiver: an error, not a delivery.
	bad := &Webhook{ChannelName: "bad", URL: srv.URL, Secret: []byte("wrong")}
	if err := bad.Send(ctx, e); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a wrong signature: %v", err)
	}
}

// A receiver that never answers does not block whoever raises events.
func TestRaiseNeverBlocks(t *testing.T) {
	// It reads the body (so that the server notices the client leaving) and never answers.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	defer hang.Close()
	n := New(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	n.SetRoutes([]Route{{Channel: &Webhook{ChannelName: "hang", URL: hang.URL, Secret: []byte("s")}}})
	done := make(chan struct{})
	go func() {
		for i := range 3 * queueSize {
			n.Raise(Event{Kind: BackupFailed, Subject: fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("raising events blocked on a receiver that does not answer")
	}
}

// E-mail through a real SMTP server (aiosmtpd) with STARTTLS: the message arrives with
// its Indonesian subject and text.
func TestEmailThroughARealSMTPServer(t *testing.T) {
	if _, err := os.Stat("/usr/bin/aiosmtpd"); err != nil {
		testenv.Skip(t, "aiosmtpd is not installed: run `make services` (e2e/setup/services.d/50-smtp.sh)")
	}
	pki := testenv.NewTLSFiles(t, t.TempDir())
	mbox := filepath.Join(t.TempDir(), "mbox")
	port := testenv.FreePort(t)
	cmd := exec.Command("/usr/bin/aiosmtpd", "-n", "-l", fmt.Sprintf("127.0.0.1:%d", port),
		"--tlscert", pki.ServerCert, "--tlskey", pki.ServerKey, "-c", "aiosmtpd.handlers.Mailbox", mbox)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pem, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	m := &Email{ChannelName: "dinkes-mail", Addr: fmt.Sprintf("127.0.0.1:%d", port), From: "cadang@diskominfo.example.go.id",
		To: []string{"sekretariat@dinkes.example.go.id"}, StartTLS: true, RootCAs: pool}
	e := Event{Kind: BackupFailed, Subject: "x", Title: "Pencadangan simpus-db gagal", Text: "Pencadangan target simpus-db tidak berhasil: pg_dump gagal.", Time: time.Now()}
	var sendErr error
	waitFor(t, "the SMTP server", func() bool {
		sendErr = m.Send(context.Background(), e)
		return sendErr == nil || !strings.Contains(sendErr.Error(), "connection refused")
	})
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	// The Mailbox handler keeps a maildir: the message is a file in it.
	var msg string
	_ = filepath.WalkDir(mbox, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			msg += string(b)
		}
		return nil
	})
	for _, want := range []string{"Subject: [cadang] Pencadangan simpus-db gagal", "pg_dump gagal", "X-Cadang-Event: backup.failed", "sekretariat@dinkes.example.go.id"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message lacks %q:\n%s", want, msg)
		}
	}
	// Without trusting the server's CA, STARTTLS refuses it: nothing is sent in the clear.
	m.RootCAs = x509.NewCertPool()
	if err := m.Send(context.Background(), e); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("a server whose certificate is not trusted: %v", err)
	}
}
