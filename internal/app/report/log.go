package report

import (
	"context"
	"log/slog"
)

// MaskHandler wraps a slog.Handler so that every record is masked before
// the inner handler encodes it: the message, every attribute's key and
// value (errors and Stringers as their masked text, other values as masked
// deep copies), and the attributes and groups added with With.
// Enabled is the inner handler's, so a disabled level costs nothing more.
func MaskHandler(inner slog.Handler, m *Masker) slog.Handler {
	return &maskHandler{inner: inner, m: m}
}

type maskHandler struct {
	inner slog.Handler
	m     *Masker
}

func (h *maskHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *maskHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.m.Mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *maskHandler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = h.attr(a)
	}
	return &maskHandler{inner: h.inner.WithAttrs(masked), m: h.m}
}

func (h *maskHandler) WithGroup(name string) slog.Handler {
	return &maskHandler{inner: h.inner.WithGroup(h.m.Mask(name)), m: h.m}
}

func (h *maskHandler) attr(a slog.Attr) slog.Attr {
	a.Key = h.m.Mask(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.m.Mask(v.String()))
	case slog.KindGroup:
		group := v.Group()
		masked := make([]slog.Attr, len(group))
		for i, g := range group {
			masked[i] = h.attr(g)
		}
		a.Value = slog.GroupValue(masked...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case []byte:
			a.Value = slog.StringValue(h.m.Mask(string(x)))
		case error:
			a.Value = slog.StringValue(h.m.Mask(x.Error()))
		case interface{ String() string }:
			a.Value = slog.StringValue(h.m.Mask(x.String()))
		default:
			a.Value = slog.AnyValue(Masked(h.m, x))
		}
	default:
		a.Value = v
	}
	return a
}
