//go:build tools

// Package tools pins go.etcd.io/etcd/server/v3 (its root package is the etcd binary's main)
// so `go build go.etcd.io/etcd/server/v3` works from this module.
package tools

import _ "go.etcd.io/etcd/server/v3"
