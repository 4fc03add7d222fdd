package notebooks

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/stateflush/stateflush/internal/figure"
	"github.com/stateflush/stateflush/protocol/kv"
)

// The house style lives in internal/figure, which the report page's space-time diagram shares;
// these short names keep the experiments readable.
const (
	figureWidth    = figure.Width
	figureHeight   = figure.Height
	titleFontSize  = figure.TitleFontSize
	labelFontSize  = figure.LabelFontSize
	tickFontSize   = figure.TickFontSize
	legendFontSize = figure.LegendFontSize
)

var (
	colorBlue       = figure.Blue
	colorVermillion = figure.Vermillion
	colorGreen      = figure.Green
	colorOrange     = figure.Orange
	colorSky        = figure.Sky
	colorPurple     = figure.Purple
	colorBlack      = figure.Black
	colorGrey       = figure.Grey
	colorRed        = figure.Red
)

var (
	newPlot   = figure.NewPlot
	textStyle = figure.TextStyle
	withAlpha = figure.WithAlpha
	// saveFigure renders a figure as NAME.png, NAME.svg and NAME.pdf in outDir.
	saveFigure = figure.Save
)

type (
	painter    = figure.Painter
	plainTicks = figure.PlainTicks
)

// seriesColors is the palette for an ordered list of series (mutants, key counts, kill rates).
// (Okabe–Ito's yellow is left out: too faint for a line on white.)
var seriesColors = []color.Color{colorBlue, colorVermillion, colorGreen, colorOrange, colorSky, colorPurple, colorBlack}

// seriesDashes gives series beyond the palette's length a second distinguishing feature.
var seriesDashes = [][]vg.Length{nil, {vg.Points(5), vg.Points(3)}, {vg.Points(1.5), vg.Points(2)}}

// seriesGlyphs give each series of a list a marker shape too: with seriesColors, the twelve
// mutants get twelve distinct (colour, shape) pairs, which stay apart in greyscale.
var seriesGlyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{},
	draw.RingGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, draw.PlusGlyph{}}

func seriesGlyph(i int) draw.GlyphDrawer { return seriesGlyphs[i%len(seriesGlyphs)] }

// seriesColor and seriesDash style series i of a list.
func seriesColor(i int) color.Color { return seriesColors[i%len(seriesColors)] }
func seriesDash(i int) []vg.Length  { return seriesDashes[(i/len(seriesColors))%len(seriesDashes)] }

// strategyColor keeps each replica-creation strategy in the same colour in every figure.
func strategyColor(s kv.Strategy) color.Color {
	switch s {
	case kv.StateFlush:
		return colorBlue
	case kv.Blocking:
		return colorVermillion
	default:
		return colorGrey
	}
}

// strategies are the three replica-creation strategies, in the order figures show them.
var strategies = []kv.Strategy{kv.StateFlush, kv.Blocking, kv.Naive}

// savePlot saves a single plot at the default size.
func savePlot(outDir, name string, p *plot.Plot) error {
	return saveFigure(outDir, name, figureWidth, figureHeight, p.Draw)
}

// stackedPanels paints plots one above the other with aligned data areas, so that panels sharing
// an x axis line up exactly.
func stackedPanels(plots ...*plot.Plot) painter {
	rows := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		rows[i] = []*plot.Plot{p}
	}
	return func(dc draw.Canvas) {
		tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter,
			PadLeft: vg.Millimeter, PadRight: 2 * vg.Millimeter}
		canvases := plot.Align(rows, tiles, dc)
		for i, p := range plots {
			p.Draw(canvases[i][0])
		}
	}
}

// sideLegend paints a plot with its legend in a column of the given width to its right, for plots
// whose many series a legend drawn inside would hide. The title spans the whole figure.
func sideLegend(p *plot.Plot, width vg.Length) painter {
	legend := p.Legend
	legend.Top, legend.Left = true, true
	p.Legend = plot.NewLegend() // the plot itself draws no legend
	title := p.Title
	p.Title.Text = ""
	return func(dc draw.Canvas) {
		if title.Text != "" {
			descent := title.TextStyle.FontExtents().Descent
			dc.FillText(title.TextStyle, vg.Point{X: dc.Center().X, Y: dc.Max.Y + descent}, title.Text)
			dc.Max.Y -= title.TextStyle.Height(title.Text) + title.Padding
		}
		p.Draw(draw.Crop(dc, 0, -width, 0, 0))
		legend.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-width+vg.Millimeter, 0, 0, 0))
	}
}

// writeCSV saves the numbers behind a figure as NAME.csv, so that a reader can check a figure or
// plot it another way.
func writeCSV(outDir, name string, header []string, rows [][]string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(header); err != nil {
		return err
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	path := filepath.Join(outDir, name+".csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// formatFloat prints a number for a CSV cell with just enough digits; NaN (no data) is empty.
func formatFloat(x float64) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', 6, 64)
}

// formatMS prints a virtual time in ms for a CSV cell; a negative time (a phase that did not
// happen) is empty.
func formatMS(us int64) string {
	if us < 0 {
		return ""
	}
	return formatFloat(usToMS(us))
}

// line is a styled line series.
func line(xys plotter.XYs, c color.Color, dashes []vg.Length) (*plotter.Line, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	l.Color, l.Width, l.Dashes = c, vg.Points(1.5), dashes
	return l, nil
}

// linePoints is a styled line series with a glyph at every point.
func linePoints(xys plotter.XYs, c color.Color, dashes []vg.Length, shape draw.GlyphDrawer) (*plotter.Line, *plotter.Scatter, error) {
	l, err := line(xys, c, dashes)
	if err != nil {
		return nil, nil, err
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, nil, err
	}
	s.Color, s.Radius, s.Shape = c, vg.Points(2.5), shape
	return l, s, nil
}

// band is a shaded span of the x axis (a protocol phase) across the whole height of a plot.
type band struct {
	From, To float64
	Color    color.Color
}

// bands draws shaded x spans behind the data. It extends only the x range of the plot, and clips
// spans to the axis range, so a zoomed plot can be given every phase.
type bands []band

// Plot implements plot.Plotter.
func (bs bands) Plot(c draw.Canvas, p *plot.Plot) {
	for _, b := range bs {
		from, to := math.Max(b.From, p.X.Min), math.Min(b.To, p.X.Max)
		if to <= from {
			continue
		}
		x0, x1 := c.X(p.X.Norm(from)), c.X(p.X.Norm(to))
		c.FillPolygon(b.Color, []vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}})
	}
}

// DataRange implements plot.DataRanger: the spans' x extent; no y extent (+Inf, -Inf leave the
// y range to the data).
func (bs bands) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, b := range bs {
		xmin, xmax = math.Min(xmin, b.From), math.Max(xmax, b.To)
	}
	return xmin, xmax, math.Inf(1), math.Inf(-1)
}

// swatch is a legend thumbnail: a filled square of one colour.
type swatch struct{ color.Color }

// Thumbnail implements plot.Thumbnailer.
func (s swatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.Color, []vg.Point{c.Min, {X: c.Max.X, Y: c.Min.Y}, c.Max, {X: c.Min.X, Y: c.Max.Y}})
}

// verticalLine marks one x value across the whole plot height (an instant: a copy's completion).
type verticalLine struct {
	X     float64
	Style draw.LineStyle
}

// Plot implements plot.Plotter.
func (v verticalLine) Plot(c draw.Canvas, p *plot.Plot) {
	if v.X < p.X.Min || v.X > p.X.Max {
		return
	}
	x := c.X(p.X.Norm(v.X))
	c.StrokeLine2(v.Style, x, c.Min.Y, x, c.Max.Y)
}

// Thumbnail implements plot.Thumbnailer.
func (v verticalLine) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(v.Style, x, c.Min.Y, x, c.Max.Y)
}

// Log axes. gonum's plot.LogScale places an axis label's glyph box at the arithmetic midpoint of
// the range, so on a log axis a long label pushes the data area in; instead, log-scaled data is
// plotted as its base-10 logarithm on a linear axis, and logTicks labels it in the original units.

// useLogAxis makes an axis show log10-transformed values labelled in original units. Pass the data
// through logXYs.
func useLogAxis(ax *plot.Axis) { ax.Tick.Marker = logTicks{} }

// logXYs transforms points for log axes: x and/or y become their base-10 logarithms.
func logXYs(xys plotter.XYs, logX, logY bool) plotter.XYs {
	out := make(plotter.XYs, len(xys))
	for i, xy := range xys {
		if logX {
			xy.X = math.Log10(xy.X)
		}
		if logY {
			xy.Y = math.Log10(xy.Y)
		}
		out[i] = xy
	}
	return out
}

// logTicks labels a log10-transformed axis at 1, 2 and 5 times the powers of ten, with minor ticks
// at the other integer multiples.
type logTicks struct{}

// Ticks implements plot.Ticker; lo and hi are base-10 logarithms.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow(10, e)
			at := math.Log10(v)
			if at < lo-1e-9 || at > hi+1e-9 {
				continue
			}
			tick := plot.Tick{Value: at}
			if m == 1 || m == 2 || m == 5 {
				tick.Label = thousands(v)
			}
			ticks = append(ticks, tick)
		}
	}
	return ticks
}

// cell is one filled unit square of a grid, centred on (X, Y) in data coordinates, with an optional
// label written in its middle.
type cell struct {
	X, Y  float64
	Color color.Color
	Label string
}

// cellGrid draws unit cells (a matrix of outcomes) with a thin gap between neighbours.
type cellGrid []cell

// Plot implements plot.Plotter.
func (g cellGrid) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	gap := vg.Points(0.6)
	for _, cl := range g {
		x0, x1 := tx(cl.X-0.5)+gap, tx(cl.X+0.5)-gap
		y0, y1 := ty(cl.Y-0.5)+gap, ty(cl.Y+0.5)-gap
		c.FillPolygon(cl.Color, []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		if cl.Label != "" {
			sty := textStyle(labelFontSize, colorBlack)
			sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
			c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, cl.Label)
		}
	}
}

// DataRange implements plot.DataRanger: the cells' extent.
func (g cellGrid) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, cl := range g {
		xmin, xmax = math.Min(xmin, cl.X-0.5), math.Max(xmax, cl.X+0.5)
		ymin, ymax = math.Min(ymin, cl.Y-0.5), math.Max(ymax, cl.Y+0.5)
	}
	return xmin, xmax, ymin, ymax
}

// thousands prints a tick value with thousands separators (100,000), as people read large numbers.
func thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if math.Abs(v) < 1000 {
		return s
	}
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	var b strings.Builder
	for i, d := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String() + frac
}

// errorPoints are points with a spread below and above each (in the plot's units), for
// plotter.NewYErrorBars: the minimum and maximum of repeated measurements around their median.
type errorPoints struct {
	plotter.XYs
	Low, High []float64
}

// YError implements plotter.YErrorer.
func (e errorPoints) YError(i int) (float64, float64) { return e.Low[i], e.High[i] }

// stepTicks labels an axis every Step units, with a minor tick halfway, for axes where gonum's
// default picks too few labels.
type stepTicks struct{ Step float64 }

// Ticks implements plot.Ticker.
func (t stepTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for v := math.Ceil(lo/t.Step*2) * t.Step / 2; v <= hi; v += t.Step / 2 {
		tick := plot.Tick{Value: v}
		if math.Mod(math.Abs(v), t.Step) < t.Step/4 {
			tick.Label = thousands(v)
		}
		ticks = append(ticks, tick)
	}
	return ticks
}
