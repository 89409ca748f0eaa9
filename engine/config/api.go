package config

import (
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strconv"
	"strings"
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

// TargetAPI is a target's `api:` section: what its agency may ask of it through the
// network API.
type TargetAPI struct {
	// RestoreDestinations are where the agency's restore requests may write; without
	// any, the agency may not ask for a restore of the target (the operator still may,
	// on the unix socket). By the target's kind:
	//   - files: absolute path prefixes ("/srv/restore/dinkes"): the destination must
	//     be one of them or below one, after symbolic links are resolved;
	//   - postgres, mysql: database-name patterns ("simpus_restore_*", with * and ?)
	//     on the target's own server: the destination is postgres:///NAME
	//     (mysql:///NAME), with no host, user or query of the agency's choosing;
	//   - libvirt: domain-name prefixes ("web01-restored-"), the name the restored
	//     domain must be defined under (option define), and at least one absolute
	//     path prefix for the folder its disks are written to.
	RestoreDestinations []string `yaml:"restore_destinations"`
}

// DestinationKinds are the kinds whose targets take restore_destinations.
var destinationKinds = map[string]bool{"files": true, "postgres": true, "mysql": true, "libvirt": true}

func (a *TargetAPI) validate(kind string, report func(field, msg string)) {
	if len(a.RestoreDestinations) == 0 {
		return
	}
	if !destinationKinds[kind] {
		report("restore_destinations", fmt.Sprintf("a %s target takes no restore destinations", kind))
		return
	}
	paths, names := 0, 0
	for i, d := range a.RestoreDestinations {
		at := fmt.Sprintf("restore_destinations[%d]", i)
		switch {
		case d == "":
			report(at, "empty")
		case strings.HasPrefix(d, "/"):
			paths++
			if kind == "postgres" || kind == "mysql" {
				report(at, fmt.Sprintf("a %s target's destinations are database-name patterns (simpus_restore_*), not paths", kind))
			} else if filepath.Clean(d) == "/" {
				report(at, "/ would let the agency write anywhere: give the folder its restores go to")
			} else if filepath.Clean(d) != d {
				report(at, fmt.Sprintf("give the path as %s", filepath.Clean(d)))
			}
		default:
			names++
			switch kind {
			case "files":
				report(at, "a files target's destinations are absolute path prefixes (/srv/restore/...)")
			case "postgres", "mysql":
				if _, err := path.Match(d, ""); err != nil || strings.ContainsAny(d, "/\\[]") {
					report(at, fmt.Sprintf("%q is not a database-name pattern (a name with * and ?)", d))
				}
			}
		}
	}
	if kind == "libvirt" && (paths == 0 || names == 0) {
		report("restore_destinations", "a libvirt target needs both a path prefix (/var/lib/libvirt/images/restore) for the disks and a domain-name prefix (web01-restored-) for the new domain")
	}
}

// Metrics is the `metrics:` section: a plain HTTP listener for Prometheus on a loopback
// address (a Prometheus on the same host, or behind a local proxy). A Prometheus
// elsewhere scrapes GET /metrics on the network API instead, over TLS with an auditor
// token.
type Metrics struct {
	Listen string `yaml:"listen"` // 127.0.0.1:9464
}

func (m *Metrics) validate(report func(path, msg string)) {
	if m.Listen == "" {
		return
	}
	if !(API{Listen: m.Listen}).Loopback() {
		report("metrics.listen", "give a loopback address (127.0.0.1:9464): metrics over the network are served by the API (GET /metrics, TLS, an auditor token)")
	}
}
