//go:build tools

// Package tools pins github.com/k3s-io/kine so `go build github.com/k3s-io/kine` works from this module.
package tools

import _ "github.com/k3s-io/kine"
