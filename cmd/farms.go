package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/farmbuild/farm/config"
)

func newCreateCmd(ro *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "create NAME [CONNECTION...]",
		Short: "Create a farm of connections (the first farm becomes the default)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ro.store.CreateFarm(args[0], args[1:]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Farm %q created\n", args[0])
			return nil
		},
	}
}

func newListCmd(ro *rootOptions) *cobra.Command {
	opts := &listOptions{}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List farms",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(opts.format); err != nil {
				return err
			}
			farms, err := ro.store.Farms()
			if err != nil {
				return err
			}
			if opts.format == "json" {
				return writeJSON(cmd.OutOrStdout(), farms)
			}
			t := newTable(cmd.OutOrStdout(), "NAME", "CONNECTIONS", "DEFAULT", "READWRITE")
			for _, f := range farms {
				t.row(f.Name, strings.Join(f.Connections, ","), f.Default, f.ReadWrite)
			}
			return t.flush()
		},
	}
	cmd.Flags().StringVar(&opts.format, "format", "table", "output format: table or json")
	return cmd
}

type updateOptions struct {
	add, remove []string
	makeDefault bool
}

func newUpdateCmd(ro *rootOptions) *cobra.Command {
	opts := &updateOptions{}
	cmd := &cobra.Command{
		Use:   "update NAME [--add CONNECTION] [--remove CONNECTION] [--default]",
		Short: "Add or remove connections of a farm, or make it the default",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u := config.FarmUpdate{Add: opts.add, Remove: opts.remove}
			if cmd.Flags().Changed("default") {
				u.Default = &opts.makeDefault
			}
			if len(u.Add) == 0 && len(u.Remove) == 0 && u.Default == nil {
				return usageError{fmt.Errorf("nothing to update: give --add, --remove or --default")}
			}
			if err := ro.store.UpdateFarm(args[0], u); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Farm %q updated\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&opts.add, "add", "a", nil, "connections to add (repeatable, comma-separated)")
	cmd.Flags().StringSliceVarP(&opts.remove, "remove", "r", nil, "connections to remove (repeatable, comma-separated)")
	cmd.Flags().BoolVarP(&opts.makeDefault, "default", "d", false, "make this the default farm (--default=false: no default farm)")
	return cmd
}

type removeOptions struct{ all bool }

func newRemoveCmd(ro *rootOptions) *cobra.Command {
	opts := &removeOptions{}
	cmd := &cobra.Command{
		Use:     "remove NAME... | --all",
		Aliases: []string{"rm"},
		Short:   "Remove farms (their connections stay)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.all == (len(args) > 0) {
				return usageError{fmt.Errorf("give farm names or --all, not both or neither")}
			}
			if err := ro.store.RemoveFarms(args, opts.all); err != nil {
				return err
			}
			if opts.all {
				fmt.Fprintln(cmd.OutOrStdout(), "All farms removed")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Farm(s) %s removed\n", strings.Join(args, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&opts.all, "all", "a", false, "remove every farm")
	return cmd
}
