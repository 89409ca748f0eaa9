// Package packaging holds the Debian package of cadang (`make deb`: nfpm.yaml,
// build-deb.sh, the systemd unit and its drop-in examples, the maintainer scripts and
// the example /etc/cadang/cadang.yaml) and, in its tests, the install, upgrade, remove
// and purge cycle of that package in a minimal Debian root. It has no Go code of its
// own and nothing imports it.
package packaging
