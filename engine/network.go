package engine

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cadang/cadang/engine/config"
	"github.com/cadang/cadang/engine/dashboard"
	"github.com/cadang/cadang/engine/server"
)

// The network listener (api.listen): the API for token holders, beside the unix
// socket. See server.NewNetwork for what it checks before a handler runs.

// listenNetwork opens the network listener, with TLS unless the address is loopback
// (config refuses plain HTTP elsewhere). It returns nil without api.listen.
func listenNetwork(a config.API) (net.Listener, error) {
	if a.Listen == "" {
		return nil, nil
	}
	var tc *tls.Config
	if a.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.TLS.CertFile, a.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("api.tls: %s, %s: %w", a.TLS.CertFile, a.TLS.KeyFile, err)
		}
		tc = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if a.ClientCAFile != "" {
			pem, err := os.ReadFile(a.ClientCAFile)
			if err != nil {
				return nil, fmt.Errorf("api.client_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("api.client_ca_file: %s holds no PEM certificate", a.ClientCAFile)
			}
			tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	} else if !a.Loopback() {
		return nil, fmt.Errorf("api.listen %s: plain HTTP is refused on an address that is not loopback", a.Listen)
	}
	ln, err := net.Listen("tcp", a.Listen)
	if err != nil {
		return nil, fmt.Errorf("api.listen: %w", err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}

// networkServer is the http.Server of the network listener: bounded headers and
// slow clients cut off; bodies are bounded by the handlers (1 MiB).
func (d *Daemon) networkServer() *http.Server {
	return &http.Server{
		Handler:           d.networkHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn), // TLS handshake failures, in the daemon's log
	}
}

// networkHandler is the network API, with the dashboard at / (engine/dashboard): the
// dashboard's pages are calls to this same API with the signed-in user's token.
func (d *Daemon) networkHandler() http.Handler {
	auth := tokenAuth{d}
	return dashboard.New(dashboard.Options{
		API: server.NewNetwork(service{d}, auth, d.log),
		Identify: func(secret string) (dashboard.User, error) {
			p, err := auth.Authenticate(secret)
			return dashboard.User{Name: p.Name, Role: p.Role, Agency: p.Agency}, err
		},
		Log: d.log, Now: d.now,
	})
}

// tokenAuth authenticates the network API's bearer tokens against the catalog.
type tokenAuth struct{ d *Daemon }

func (a tokenAuth) Authenticate(secret string) (server.Principal, error) {
	t, err := a.d.cat.TokenBySecret(secret, a.d.now())
	if err != nil {
		return server.Principal{}, err
	}
	return server.Principal{Name: "token:" + t.Name, Role: t.Role, Agency: t.Agency}, nil
}
