package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phala-go/phala/sdk"
)

func keysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage account keys in the keyring directory; show the chain's key epochs"}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "add NAME",
			Short: "Generate a new key",
			Args:  cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				name := args[0]
				if name == "" || strings.ContainsAny(name, `/\.`) {
					return usageError{fmt.Errorf("key name %q: use letters, digits, - and _", name)}
				}
				k, err := sdk.GenerateKey(name)
				if err != nil {
					return err
				}
				path := filepath.Join(g.keyring, name+".json")
				if err := sdk.SaveKey(path, k); err != nil {
					return err
				}
				fmt.Fprintf(g.out, "%s\t%s\t%s\n", name, k.Address(), path)
				return nil
			},
		},
		&cobra.Command{
			Use:   "list",
			Short: "List keys",
			RunE: func(*cobra.Command, []string) error {
				entries, err := os.ReadDir(g.keyring)
				if os.IsNotExist(err) {
					return nil
				}
				if err != nil {
					return err
				}
				var names []string
				for _, e := range entries {
					if strings.HasSuffix(e.Name(), ".json") {
						names = append(names, e.Name())
					}
				}
				sort.Strings(names)
				for _, n := range names {
					k, err := sdk.LoadKey(filepath.Join(g.keyring, n))
					if err != nil {
						fmt.Fprintf(g.out, "%s\t(unreadable: %v)\n", n, err)
						continue
					}
					fmt.Fprintf(g.out, "%s\t%s\n", strings.TrimSuffix(n, ".json"), k.Address())
				}
				return nil
			},
		},
		&cobra.Command{
			Use:   "show NAME|FILE",
			Short: "Show a key's address and public key",
			Args:  cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				k, err := g.loadKey(args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(g.out, "name:    %s\naddress: %s\npub_key: %x\n", k.Name, k.Address(), k.Public())
				return nil
			},
		},
		epochCmd(g),
		clusterCmd(g),
	)
	return cmd
}
