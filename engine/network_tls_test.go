package engine

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"

	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/internal/testenv"
)

// The network listener speaks TLS with the configured certificate; with a client CA,
// a client without a certificate from it fails the handshake, one with it gets in.
func TestNetworkListenerTLS(t *testing.T) {
	f := testenv.NewTLSFiles(t, t.TempDir())
	other := testenv.NewTLSFiles(t, t.TempDir()) // another PKI: its client certificate is not ours
	for _, mtls := range []bool{false, true} {
		a := config.API{Listen: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), TLS: config.TLS{CertFile: f.ServerCert, KeyFile: f.ServerKey}}
		if mtls {
			a.ClientCAFile = f.CA
		}
		ln, err := listenNetwork(a)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })}
		go func() { _ = srv.Serve(ln) }()
		get := func(withCert bool) (int, error) {
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: f.ClientConfig(t, withCert)}}
			resp, err := c.Get("https://" + a.Listen + "/v1/status")
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		if code, err := get(true); err != nil || code != http.StatusTeapot {
			t.Errorf("mtls=%v, with a client certificate: %d %v", mtls, code, err)
		}
		code, err := get(false)
		if mtls && err == nil {
			t.Errorf("mutual TLS let a client without a certificate in: %d", code)
		}
		if !mtls && (err != nil || code != http.StatusTeapot) {
			t.Errorf("TLS without client certificates: %d %v", code, err)
		}
		// A client certificate signed by another CA.
		if mtls {
			wrong := f.ClientConfig(t, false)
			cert, err := tls.LoadX509KeyPair(other.ClientCert, other.ClientKey)
			if err != nil {
				t.Fatal(err)
			}
			wrong.Certificates = []tls.Certificate{cert}
			resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: wrong}}).Get("https://" + a.Listen + "/v1/status")
			if err == nil {
				resp.Body.Close()
				t.Errorf("mutual TLS let in a client whose certificate another CA signed: %d", resp.StatusCode)
			}
		}
		// Plain HTTP to the TLS port is not served.
		resp, err := http.Get("http://" + a.Listen + "/v1/status")
		if err == nil {
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("plain HTTP to the TLS listener: %d", resp.StatusCode)
			}
			resp.Body.Close()
		}
		srv.Close()
	}
	if _, err := listenNetwork(config.API{Listen: "127.0.0.1:1", TLS: config.TLS{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}}); err == nil {
		t.Error("a missing certificate file was accepted")
	}
}
