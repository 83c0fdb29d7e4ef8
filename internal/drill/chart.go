package drill

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
)

// Chart geometry.
const (
	chartW, chartH      = 1000, 460
	plotLeft, plotRight = 70, chartW - 20
	plotTop, plotBottom = 80, chartH - 50
	textScale           = 2
	failedLabel         = "failed"
)

var (
	chartPalette = []color.RGBA{
		{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {148, 103, 189, 255},
		{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
	}
	colorFailed = color.RGBA{214, 39, 40, 255}
	colorInk    = color.RGBA{40, 40, 40, 255}
	colorGrid   = color.RGBA{225, 225, 225, 255}
	colorMarker = color.RGBA{0, 0, 0, 255}
)

// Chart draws the traffic share per serving cluster over time as a
// stacked area (failed requests on top, in red), with vertical markers
// where the fault was injected and rolled back, as a PNG.
func (r *Report) Chart() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	drawText(img, plotLeft, 12, fmt.Sprintf("traffic share per cluster: drill %s", r.ID), colorInk, textScale)

	clusters := r.seriesClusters()
	colors := map[string]color.RGBA{}
	x := plotLeft
	for i, c := range clusters {
		colors[c] = chartPalette[i%len(chartPalette)]
		x = legend(img, x, 44, c, colors[c])
	}
	x = legend(img, x, 44, failedLabel, colorFailed)
	dashed(img, x+4, 44, 44+glyphH*textScale)
	drawText(img, x+14, 44, "fault, rollback", colorInk, textScale)

	end := r.Phases.EndedMS / 1000
	if end <= 0 {
		end = float64(len(r.Series))
	}
	end = math.Max(end, 1)
	xOf := func(t float64) int { return plotLeft + int(math.Round(t/end*float64(plotRight-plotLeft))) }
	yOf := func(share float64) int { return plotBottom - int(math.Round(share*float64(plotBottom-plotTop))) }

	// Grid and y axis.
	for _, s := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := yOf(s)
		hline(img, plotLeft, plotRight, y, colorGrid)
		label := fmt.Sprintf("%.0f%%", 100*s)
		drawText(img, plotLeft-8-textWidth(label, textScale), y-glyphH*textScale/2, label, colorInk, textScale)
	}

	// The stacked area, one step per one-second window.
	for px := plotLeft; px < plotRight; px++ {
		t := (float64(px-plotLeft) + 0.5) / float64(plotRight-plotLeft) * end
		i := int(t)
		if i >= len(r.Series) || r.Series[i].Requests == 0 {
			continue
		}
		shares := r.Series[i].Share
		failed := float64(r.Series[i].Failed) / float64(r.Series[i].Requests)
		acc := 0.0
		for _, c := range clusters {
			if shares[c] <= 0 {
				continue
			}
			vline(img, px, yOf(acc+shares[c]), yOf(acc), colors[c])
			acc += shares[c]
		}
		if failed > 0 {
			vline(img, px, yOf(acc+failed), yOf(acc), colorFailed)
		}
	}

	// Axes and the x ticks.
	hline(img, plotLeft, plotRight, plotBottom, colorInk)
	vline(img, plotLeft, plotTop, plotBottom, colorInk)
	step := tickStep(end)
	for t := 0.0; t <= end+1e-9; t += step {
		px := xOf(t)
		vline(img, px, plotBottom, plotBottom+5, colorInk)
		label := fmt.Sprintf("%gs", t)
		drawText(img, px-textWidth(label, textScale)/2, plotBottom+10, label, colorInk, textScale)
	}

	// Markers.
	marks := []struct {
		ms    float64
		label string
	}{{r.Phases.InjectedMS, "fault"}, {r.Phases.RolledBackMS, "rollback"}}
	if r.Phases.RestoredMS-r.Phases.RolledBackMS > 200 {
		marks = append(marks, struct {
			ms    float64
			label string
		}{r.Phases.RestoredMS, "restored"})
	}
	for i, m := range marks {
		if m.ms <= 0 {
			continue
		}
		px := xOf(m.ms / 1000)
		dashed(img, px, plotTop-4, plotBottom)
		drawText(img, px+4, plotTop-4+i*(glyphH*textScale+4), m.label, colorMarker, textScale)
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tickStep picks an x tick spacing giving at most about 12 ticks.
func tickStep(end float64) float64 {
	for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600} {
		if end/s <= 12 {
			return s
		}
	}
	return 1200
}

// legend draws a colour box and its label at (x, y); it returns the x
// after it.
func legend(img *image.RGBA, x, y int, label string, c color.Color) int {
	box := glyphH * textScale
	draw.Draw(img, image.Rect(x, y, x+box, y+box), image.NewUniform(c), image.Point{}, draw.Src)
	drawText(img, x+box+6, y, label, colorInk, textScale)
	return x + box + 6 + textWidth(label, textScale) + 18
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

// dashed draws a two-pixel dashed vertical line from y0 down to y1.
func dashed(img *image.RGBA, x, y0, y1 int) {
	for y := y0; y < y1; y += 6 {
		vline(img, x, y, min(y+3, y1), colorMarker)
		vline(img, x+1, y, min(y+3, y1), colorMarker)
	}
}

// vline draws from y0 (top) to y1 (bottom).
func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}
