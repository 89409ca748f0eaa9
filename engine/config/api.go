package config

import (
	"net"
	"strconv"
)

// API is the `api:` section: the network listener beside the unix socket, for the
// E-Layanan portal and other token holders (docs/operations.md, "The network API").
// Without listen there is none: the unix socket (the operator's door) stays the only
// one.
type API struct {
	// Listen is host:port ("0.0.0.0:8443"). Plain HTTP is refused unless the host is
	// a loopback address.
	Listen string `yaml:"listen"`
	TLS    TLS    `yaml:"tls"`
	// ClientCAFile turns on mutual TLS: clients must present a certificate signed by
	// one of these CAs (PEM), on top of their token.
	ClientCAFile string `yaml:"client_ca_file"`
}

// TLS is the listener's certificate and key (PEM files).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Loopback reports whether the listen address is a loopback one ("127.0.0.1:8443",
// "[::1]:8443", "localhost:8443").
func (a API) Loopback() bool {
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (a *API) validate(report func(path, msg string)) {
	if a.Listen == "" {
		if a.TLS.CertFile != "" || a.TLS.KeyFile != "" || a.ClientCAFile != "" {
			report("api.listen", "required with api.tls or api.client_ca_file: the address to listen on (e.g. 0.0.0.0:8443)")
		}
		return
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		report("api.listen", "give host:port, e.g. 0.0.0.0:8443 or 127.0.0.1:8080")
		return
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		report("api.listen", "give an IP address (or localhost) to listen on, not a name: "+host)
	}
	switch {
	case (a.TLS.CertFile == "") != (a.TLS.KeyFile == ""):
		report("api.tls", "give both cert_file and key_file")
	case a.TLS.CertFile == "" && !a.Loopback():
		report("api.tls", "required: plain HTTP is refused on "+a.Listen+", which is not a loopback address (tokens would cross the network in the clear)")
	}
	if a.ClientCAFile != "" && a.TLS.CertFile == "" {
		report("api.client_ca_file", "needs api.tls: client certificates are checked in the TLS handshake")
	}
}
