// Command gen rewrites the inputs and outputs tables in the README.md of
// every module under terraform/modules from the modules' variables and
// outputs, so that the tables never drift from the code:
//
//	go run ./test/tfmodules/gen
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/meshfed/meshfed/test/tfmodules"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := tfmodules.ModulesDir()
	if err != nil {
		return err
	}
	dirs, err := tfmodules.List(root)
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		m, err := tfmodules.Load(dir)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, "README.md")
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		updated, err := tfmodules.ReplaceTables(string(old), tfmodules.Tables(m))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if updated == string(old) {
			continue
		}
		if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
			return err
		}
		fmt.Println("updated", path)
	}
	return nil
}
