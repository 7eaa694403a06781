//go:build ignore

// gen.go rebuilds table_gen.go from data/*.json: `go generate ./endpoint/`.
package main

import (
	"log"
	"os"

	"github.com/sigv4-sidecar/sigv4-sidecar/endpoint/internal/tablegen"
)

func main() {
	src, err := tablegen.Generate("data")
	if err != nil {
		log.Fatalf("gen: %v", err)
	}
	if err := os.WriteFile("table_gen.go", src, 0o644); err != nil {
		log.Fatalf("gen: %v", err)
	}
}
