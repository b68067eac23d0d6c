package cli

import "errors"

// errNoBundleYet: the spec is valid, but the PKI and renderers that write
// the bundle are not part of this build yet.
var errNoBundleYet = errors.New("the spec is valid, but this build of hagen cannot write bundles yet (PKI and renderers are still to come); nothing was written")
