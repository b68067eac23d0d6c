// Package schema embeds hagen's CUE schema, the single source of truth for
// the shape, defaults and bounds of a cluster spec.
package schema

import _ "embed"

// Source is the CUE source of the schema; its #Cluster definition is the top
// level of every spec.
//
//go:embed cluster.cue
var Source string

// Filename is the name the schema's positions carry in error messages.
const Filename = "hagen/schema/cluster.cue"

// Definition is the path of the spec's top-level definition.
const Definition = "#Cluster"
