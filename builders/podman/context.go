package podman

import "context"

// valuesContext takes cancellation and deadline from its embedded context
// and values from another one first.
type valuesContext struct {
	context.Context
	values context.Context
}

func withValues(ctx, values context.Context) context.Context {
	return valuesContext{Context: ctx, values: values}
}

// Value looks a key up in the values context, then in the embedded one.
func (c valuesContext) Value(key any) any {
	if v := c.values.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}
