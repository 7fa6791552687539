package sandbox

// Exported for the external tests.

// MarkerGuest returns a minimal hand-made guest module (see markerGuest).
func MarkerGuest(marker string, imports ...[3]string) []byte {
	var ims []wasmImport
	for _, im := range imports {
		switch im[2] {
		case "op":
			ims = append(ims, wasmImport{module: im[0], name: im[1], params: opSignature.params, results: opSignature.results})
		case "i32":
			ims = append(ims, wasmImport{module: im[0], name: im[1], results: []byte{wasmI32}})
		default:
			ims = append(ims, wasmImport{module: im[0], name: im[1]})
		}
	}
	return markerGuest(marker, ims...)
}

// WithoutCache returns c compiling without the shared compilation cache.
func (c RuntimeConfig) WithoutCache() RuntimeConfig {
	c.noCache = true
	return c
}

// MergeDataSegments is mergeDataSegments.
var MergeDataSegments = mergeDataSegments

// InFlight returns the number of runs of g in flight, and whether g is
// closed.
func (g *Guest) InFlight() (runs int, closed bool) {
	g.runs.mu.Lock()
	defer g.runs.mu.Unlock()
	return len(g.runs.runs), g.runs.closed
}
