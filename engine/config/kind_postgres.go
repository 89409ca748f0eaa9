package config

import _ "github.com/cadang/cadang/targets/postgres"
