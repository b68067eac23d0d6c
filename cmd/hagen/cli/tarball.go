package cli

import (
	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/render/bundle"
	"github.com/hagen/hagen/render/tarball"
)

// addTarballs puts tar/<host>.tar.gz for every host into b.
func addTarballs(b *bundle.Bundle, p *model.Plan) error {
	for _, h := range p.Hosts {
		data, err := tarball.Host(b.HostFiles(h.Name))
		if err != nil {
			return err
		}
		if err := b.Add(bundle.File{Path: "tar/" + h.Name + ".tar.gz", Mode: bundle.ModeSecret, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
