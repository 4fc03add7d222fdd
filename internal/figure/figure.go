// Package figure is the house style of every chart stateflush draws (the notebooks' figures and
// the report page's space-time diagram): one palette, one typeface, plot defaults, and the writer
// that saves a figure as PNG, SVG and PDF. It exists so that the notebooks and the report share
// one definition of how a figure looks.
package figure

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"codeberg.org/go-pdf/fpdf"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Sizes: one figure size that fits a page column and a slide, fonts that stay readable when the
// figure is scaled to that size.
const (
	// Width and Height are the default figure size (16 x 9 cm).
	Width  = 16 * vg.Centimeter
	Height = 9 * vg.Centimeter
	// PNGDPI is the PNG resolution print asks for: a 16 cm wide PNG is about 1,900 pixels wide.
	PNGDPI = 300

	TitleFontSize  = 12
	LabelFontSize  = 11
	TickFontSize   = 10
	LegendFontSize = 10
)

// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies and in greyscale
// print by lightness.
var (
	Blue       = color.NRGBA{R: 0x00, G: 0x72, B: 0xB2, A: 0xFF}
	Vermillion = color.NRGBA{R: 0xD5, G: 0x5E, B: 0x00, A: 0xFF}
	Green      = color.NRGBA{R: 0x00, G: 0x9E, B: 0x73, A: 0xFF}
	Orange     = color.NRGBA{R: 0xE6, G: 0x9F, B: 0x00, A: 0xFF}
	Sky        = color.NRGBA{R: 0x56, G: 0xB4, B: 0xE9, A: 0xFF}
	Purple     = color.NRGBA{R: 0xCC, G: 0x79, B: 0xA7, A: 0xFF}
	Black      = color.NRGBA{A: 0xFF}
	Grey       = color.NRGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xFF}
	Red        = color.NRGBA{R: 0xC0, G: 0x00, B: 0x00, A: 0xFF}
)

// HouseFont is the typeface of every text: a sans-serif reads better than gonum's default serif at
// small sizes. SVG output names it with a generic sans-serif fallback (see Save).
var HouseFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// NewPlot makes a plot in the house style: title, axis labels with units, fonts, a light grid.
func NewPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(HouseFont, TitleFontSize)
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(HouseFont, LabelFontSize)
		ax.Tick.Label.Font = font.From(HouseFont, TickFontSize)
		ax.Tick.Marker = PlainTicks{}
	}
	p.Legend.TextStyle.Font = font.From(HouseFont, LegendFontSize)
	p.Legend.Top = true
	p.Legend.ThumbnailWidth = vg.Points(18)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xE0}
	grid.Horizontal.Color = color.Gray{Y: 0xE0}
	p.Add(grid)
	return p
}

// TextStyle is a text style in the house font at the given size.
func TextStyle(size vg.Length, c color.Color) draw.TextStyle {
	return draw.TextStyle{Color: c, Font: font.From(HouseFont, size), Handler: plot.DefaultTextHandler}
}

// WithAlpha returns a translucent version of a colour, for shading.
func WithAlpha(c color.Color, alpha uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: alpha}
}

// PlainTicks are gonum's default tick positions with labels in the shortest form ("25", not
// "25.00").
type PlainTicks struct{}

// Ticks implements plot.Ticker.
func (PlainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if !ticks[i].IsMinor() {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'g', -1, 64)
		}
	}
	return ticks
}

// Painter draws a whole figure onto a canvas; Save calls it once per output format.
type Painter func(dc draw.Canvas)

// Margin keeps text at the edges (long row labels, the last tick label) off the border.
const Margin = 2 * vg.Millimeter

func framed(paint Painter) Painter {
	return func(dc draw.Canvas) {
		paint(draw.Crop(dc, Margin, -Margin, Margin, -Margin))
	}
}

// Save renders a figure as NAME.png (for pages, at PNGDPI), NAME.svg and NAME.pdf (for papers) in
// outDir. All three are byte-identical for identical input on the same platform: no timestamps,
// no random identifiers.
func Save(outDir, name string, width, height vg.Length, paint Painter) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("figure %s: %w", name, err)
	}
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(PNGDPI))
	framed(paint)(draw.New(img))
	if err := writeFile(filepath.Join(outDir, name+".png"), vgimg.PngCanvas{Canvas: img}); err != nil {
		return err
	}
	svg, err := SVG(width, height, paint)
	if err != nil {
		return fmt.Errorf("figure %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(outDir, name+".svg"), svg, 0o644); err != nil {
		return fmt.Errorf("writing %s.svg: %w", name, err)
	}
	reproduciblePDF.Do(func() {
		fpdf.SetDefaultCreationDate(pdfDate)
		fpdf.SetDefaultModificationDate(pdfDate)
		fpdf.SetDefaultCatalogSort(true)
	})
	pdf := vgpdf.New(width, height)
	pdf.EmbedFonts(true)
	framed(paint)(draw.New(pdf))
	return writeFile(filepath.Join(outDir, name+".pdf"), pdf)
}

// PDFs carry a creation date, which would make every regeneration differ: they all get this one,
// and their catalogs are sorted, so that a PDF is as reproducible as the PNG and SVG. (vgpdf does
// not expose its document, so fpdf's process-wide defaults are set, once.)
var (
	pdfDate         = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reproduciblePDF sync.Once
)

// SVG renders a figure as an SVG document. Its font families end with a generic sans-serif
// fallback, so that a viewer without the Liberation fonts shows a sans-serif, not a serif.
func SVG(width, height vg.Length, paint Painter) ([]byte, error) {
	svg := vgsvg.New(width, height)
	framed(paint)(draw.New(svg))
	var buf bytes.Buffer
	if _, err := svg.WriteTo(&buf); err != nil {
		return nil, err
	}
	return withGenericFontFallback(buf.Bytes()), nil
}

// withGenericFontFallback appends generic families to every font-family vgsvg writes
// (font-family:Liberation Sans;) so that a viewer without the font shows a sans-serif.
func withGenericFontFallback(svg []byte) []byte {
	return bytes.ReplaceAll(svg, []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans', Arial, Helvetica, sans-serif;"))
}

func writeFile(path string, w io.WriterTo) error {
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return fmt.Errorf("rendering %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
