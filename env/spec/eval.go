package spec

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// evalContext returns what expressions in a spec can use: the values of the
// locals blocks of body as local.<name>, and the functions in functions.
func (d *decoder) evalContext(body hcl.Body) *hcl.EvalContext {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"local": cty.EmptyObjectVal},
		Functions: functions(d.specDir),
	}
	// The errors of a locals block itself (a label, say) are reported when
	// the whole file is decoded.
	locals, _, _ := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "locals"}}})
	attrs := map[string]*hcl.Attribute{}
	for _, block := range locals.Blocks {
		more, diags := block.Body.JustAttributes()
		d.diags = append(d.diags, diags...)
		for name, attr := range more {
			if prev, dup := attrs[name]; dup {
				d.errorf(attr.NameRange, "Duplicate local",
					"local.%s is already defined at %s; give one of them another name.", name, prev.NameRange)
				continue
			}
			attrs[name] = attr
		}
	}
	// A local may use others: evaluate those whose references are all
	// known until none is left, or the rest refer to each other.
	values := map[string]cty.Value{}
	for len(attrs) > 0 {
		progress := false
		for _, name := range sortedKeys(attrs) {
			attr := attrs[name]
			if dependsOnPending(attr, attrs) {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(values)
			v, diags := attr.Expr.Value(ctx)
			d.diags = append(d.diags, diags...)
			if diags.HasErrors() {
				v = cty.DynamicVal
			}
			values[name] = v
			delete(attrs, name)
			progress = true
		}
		if !progress {
			for _, name := range sortedKeys(attrs) {
				d.errorf(attrs[name].Expr.Range(), "Local refers to itself",
					"local.%s depends, through other locals, on its own value.", name)
			}
			break
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(values)
	return ctx
}

// knownBody is a body whose attributes evaluate to null where they would be
// unknown: where they use a local or call a function that failed. gohcl then
// leaves their fields unset, rather than setting them to zero values and
// reporting again a failure that is reported already.
type knownBody struct{ hcl.Body }

// Content is what gohcl calls for every struct of the schema but
// localsSchema, which keeps its body as it is.
func (b knownBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	content, diags := b.Body.Content(schema)
	for name, attr := range content.Attributes {
		known := *attr
		known.Expr = knownExpr{attr.Expr}
		content.Attributes[name] = &known
	}
	for _, block := range content.Blocks {
		block.Body = knownBody{block.Body}
	}
	return content, diags
}

type knownExpr struct{ hcl.Expression }

func (e knownExpr) Value(ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	val, diags := e.Expression.Value(ctx)
	if !val.IsWhollyKnown() {
		val = cty.NullVal(cty.DynamicPseudoType)
	}
	return val, diags
}

// UnwrapExpression lets hcl.ExprList and hcl.ExprMap see the expression as
// written.
func (e knownExpr) UnwrapExpression() hcl.Expression { return e.Expression }

// dependsOnPending reports whether attr refers to a local that is still to
// be evaluated, itself included.
func dependsOnPending(attr *hcl.Attribute, pending map[string]*hcl.Attribute) bool {
	for _, traversal := range attr.Expr.Variables() {
		if traversal.RootName() != "local" || len(traversal) < 2 {
			continue
		}
		step, ok := traversal[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		if _, waiting := pending[step.Name]; waiting {
			return true
		}
	}
	return false
}

// functions are those a spec can call: env and file, which a config
// language is expected to have, and the common string and collection
// functions of HCL's standard library.
func functions(specDir string) map[string]function.Function {
	return map[string]function.Function{
		"env":       envFunc,
		"file":      fileFunc(specDir),
		"format":    stdlib.FormatFunc,
		"join":      stdlib.JoinFunc,
		"split":     stdlib.SplitFunc,
		"lower":     stdlib.LowerFunc,
		"upper":     stdlib.UpperFunc,
		"replace":   stdlib.ReplaceFunc,
		"trimspace": stdlib.TrimSpaceFunc,
		"concat":    stdlib.ConcatFunc,
		"merge":     stdlib.MergeFunc,
		"coalesce":  stdlib.CoalesceFunc,
		"tostring":  stdlib.MakeToFunc(cty.String),
		"tonumber":  stdlib.MakeToFunc(cty.Number),
		"tobool":    stdlib.MakeToFunc(cty.Bool),
	}
}

// envFunc is env("NAME") or env("NAME", "default"): the value of an
// environment variable. An unset variable without a default is an error, so
// that a spec never runs on an empty value by accident.
var envFunc = function.New(&function.Spec{
	Params:   []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam: &function.Parameter{Name: "default", Type: cty.String},
	Type:     function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) > 2 {
			return cty.NilVal, fmt.Errorf("env takes a name and at most one default")
		}
		name := args[0].AsString()
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		if len(args) == 1 {
			return cty.NilVal, function.NewArgErrorf(0, "environment variable %s is not set; set it, or give a default: env(%q, \"...\")", name, name)
		}
		return args[1], nil
	},
})

// fileFunc returns file("path"): the content of a file, named relative to
// the spec.
func fileFunc(specDir string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := args[0].AsString()
			if !filepath.IsAbs(path) {
				path = filepath.Join(specDir, path)
			}
			content, err := os.ReadFile(path)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "%v (a relative path is relative to the spec's directory)", err)
			}
			return cty.StringVal(string(content)), nil
		},
	})
}
