package config

import _ "github.com/cadang/cadang/targets/libvirt" // kind: libvirt
