package runbooks

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// PDF renders the report as an A4 document: letterhead, title and number, the opening
// statement, the numbered sections of the minutes (basis, scope, procedure steps,
// results, trend charts, findings), and the signature blocks. It uses the PDF core
// fonts (no font files needed); text is written in Windows-1252, which covers
// Indonesian and English.
func (r *Report) PDF() ([]byte, error) {
	r.localize()
	v := lang(r.Language)
	p := &pdfDoc{f: fpdf.New("P", "mm", "A4", ""), v: v, r: r}
	p.tr = p.f.UnicodeTranslatorFromDescriptor("")
	p.build()
	if err := p.f.Error(); err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	var buf bytes.Buffer
	if err := p.f.Output(&buf); err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	return buf.Bytes(), nil
}

type pdfDoc struct {
	f  *fpdf.Fpdf
	v  *vocab
	r  *Report
	tr func(string) string
}

const (
	pdfMargin = 15.0
	pdfWidth  = 210.0 - 2*pdfMargin
	lineH     = 4.6
)

func (p *pdfDoc) build() {
	f, v, r := p.f, p.v, p.r
	title := r.title(v)
	f.SetTitle(title+" "+r.Number, true)
	f.SetAuthor(r.Office.Name, true)
	f.SetCreator("cadang", true)
	f.SetCreationDate(r.Generated)
	f.SetModificationDate(r.Generated)
	f.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	f.SetAutoPageBreak(true, 18)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-12)
		f.SetFont("Helvetica", "", 7.5)
		f.SetTextColor(90, 90, 90)
		left := fmt.Sprintf("%s %s · %s", title, r.Number, v.Generated)
		f.CellFormat(pdfWidth*0.75, 4, p.tr(left), "T", 0, "L", false, 0, "")
		f.CellFormat(pdfWidth*0.25, 4, fmt.Sprintf("%d / {nb}", f.PageNo()), "T", 0, "R", false, 0, "")
		f.SetTextColor(0, 0, 0)
	})
	f.AddPage()

	// Letterhead.
	f.SetFont("Helvetica", "B", 13)
	f.MultiCell(pdfWidth, 6, p.tr(strings.ToUpper(r.Office.Name)), "", "C", false)
	f.SetFont("Helvetica", "", 9.5)
	for _, s := range []string{r.Office.Unit, r.Office.Address} {
		if s != "" {
			f.MultiCell(pdfWidth, 4.5, p.tr(s), "", "C", false)
		}
	}
	y := f.GetY() + 1.5
	f.SetLineWidth(0.6)
	f.Line(pdfMargin, y, pdfMargin+pdfWidth, y)
	f.SetLineWidth(0.2)
	f.Line(pdfMargin, y+0.9, pdfMargin+pdfWidth, y+0.9)
	f.SetY(y + 5)

	f.SetFont("Helvetica", "BU", 12.5)
	f.CellFormat(pdfWidth, 6, p.tr(title), "", 1, "C", false, 0, "")
	f.SetFont("Helvetica", "", 10)
	f.CellFormat(pdfWidth, 5, p.tr(v.NumberLabel+": "+r.Number), "", 1, "C", false, 0, "")
	f.Ln(3)
	p.paragraph(r.openingText(v))
	f.SetFont("Helvetica", "B", 10.5)
	p.setStatusColor(r.Passed)
	f.MultiCell(pdfWidth, 5.5, p.tr(r.summaryLine(v)+" "+v.status(r.Passed)), "", "L", false)
	f.SetTextColor(0, 0, 0)

	p.section(v.SecBasis)
	for i, line := range r.basisLines(v) {
		p.numbered(i+1, line)
	}

	p.section(v.SecScope)
	p.table([]float64{40, pdfWidth - 40}, nil, [][]string{
		{v.Period, r.periodText(v)},
		{v.Targets, strings.Join(r.Scope.Targets, ", ")},
		{v.Agencies, strings.Join(r.Scope.Agencies, ", ")},
		{v.Drcs, strings.Join(r.Scope.DRCs, ", ")},
	}, nil)

	p.section(v.SecProcedure)
	for _, res := range r.Results {
		p.subsection(fmt.Sprintf("%s — DRC %s (%s)", res.Target, res.DRC, v.dateTime(res.Started)))
		rows := make([][]string, len(res.Steps))
		for i, s := range res.Steps {
			what := v.t(s.Title)
			if !s.Summary.IsZero() {
				what += "\n" + v.t(s.Summary)
			}
			if !s.Error.IsZero() {
				what += "\n" + v.t(s.Error)
			}
			std, start := "-", "-"
			if s.Timeout > 0 {
				std = v.duration(s.Timeout)
			}
			if !s.Started.IsZero() {
				start = s.Started.Format("15:04:05")
			}
			rows[i] = []string{fmt.Sprint(s.No), what, r.performer(v, s), std, start, v.duration(s.Duration()), v.StepStatus[s.Status]}
		}
		p.table([]float64{9, 71, 22, 22, 17, 19, 20},
			[]string{v.ColNo, v.ColActivity, v.ColPerformer, v.ColTimeStd, v.ColStart + " (" + r.zoneLabel() + ")", v.ColDuration, v.ColResult}, rows,
			func(row, col int) string {
				if col == 6 {
					return res.Steps[row].Status
				}
				return ""
			})
	}

	p.keep(50) // the heading, the table's header and its first row together
	p.section(v.SecResults)
	if r.Kind == ReportPeriod {
		var rows [][]string
		for _, s := range r.summaries() {
			rows = append(rows, []string{s.Target, s.Agency, s.Kind, strings.Join(s.DRCs, ", "), fmt.Sprint(s.Drills), fmt.Sprint(s.Passed),
				v.duration(s.WorstRPO), v.duration(s.WorstRTO)})
		}
		p.table([]float64{30, 26, 18, 24, 14, 14, 27, 27},
			[]string{v.ColTarget, v.ColAgency, v.ColKind, v.ColDRC, v.ColDrills, v.ColPassRate, v.ColRPO + " max", v.ColRTO + " max"}, rows, nil)
		f.Ln(2)
	}
	var rows [][]string
	for _, res := range r.Results {
		agency := res.Agency
		if res.AgencyName != "" {
			agency = res.AgencyName
		}
		var checks []string
		for _, c := range res.Checks {
			// Check marks are not in Windows-1252: the words say it.
			mark := strings.ToUpper(v.StepStatus[StepOK])
			if !c.Passed {
				mark = strings.ToUpper(v.StepStatus[StepFailed])
			}
			text := mark + ": " + v.t(c.Name)
			if !c.Detail.IsZero() {
				text += ": " + v.t(c.Detail)
			}
			checks = append(checks, text)
		}
		rows = append(rows, []string{
			res.Target + "\n" + agency + "\n" + res.Kind + ", DRC " + res.DRC,
			short8(res.Snapshot) + "\n" + v.dateTime(res.SnapshotTime),
			objective(v, res.RPOObjective) + " / " + v.duration(time.Duration(res.RPOAchieved)),
			objective(v, res.RTOObjective) + " / " + v.duration(time.Duration(res.RTOMeasured)),
			v.bytes(res.BytesRestored) + "\n" + v.bytes(res.BytesPerSecond()) + "/s",
			strings.Join(checks, "\n"),
			v.status(res.Passed),
		})
	}
	p.table([]float64{32, 25, 22, 22, 20, 42, 17},
		[]string{v.ColTarget, v.ColSnapshot, v.ColRPO + "\n" + v.Objective + " / " + v.Achieved, v.ColRTO + "\n" + v.Objective + " / " + v.Measured,
			v.ColBytes, v.ColChecks, v.ColStatus}, rows,
		func(row, col int) string {
			switch {
			case col == 6 && r.Results[row].Passed:
				return StepOK
			case col == 6:
				return StepFailed
			}
			return ""
		})

	charts := r.charts()
	if len(charts) > 0 {
		p.keep(55) // the heading stays with its first chart
	}
	p.section(v.SecTrend)
	if len(charts) == 0 {
		p.paragraph(v.NoTrend)
	}
	for _, c := range charts {
		p.chart(c)
	}
	if len(charts) > 0 {
		f.SetFont("Helvetica", "I", 8)
		caption := v.TrendCaption
		if r.hasCurrent() {
			caption += " " + v.TrendCurrent
		}
		f.MultiCell(pdfWidth, 3.8, p.tr(caption), "", "L", false)
	}

	p.section(v.SecFindings)
	if len(r.Findings) == 0 {
		p.paragraph(v.NoFindings)
	} else {
		rows := make([][]string, len(r.Findings))
		for i, fd := range r.Findings {
			rows[i] = []string{fmt.Sprint(i + 1), fd.Target + "\nDRC " + fd.DRC, fd.Text, fd.FollowUp}
		}
		p.table([]float64{9, 30, 70, 71}, []string{v.ColNo, v.ColTarget, v.ColFinding, v.ColFollowUp}, rows, nil)
	}

	p.section(v.SecClosing)
	p.paragraph(v.Closing)
	p.signatures()
}

func objective(v *vocab, d Duration) string {
	if d == 0 {
		return "-"
	}
	return v.duration(time.Duration(d))
}

func short8(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func (p *pdfDoc) setStatusColor(ok bool) {
	if ok {
		p.f.SetTextColor(27, 94, 32)
	} else {
		p.f.SetTextColor(183, 28, 28)
	}
}

func (p *pdfDoc) paragraph(s string) {
	p.f.SetFont("Helvetica", "", 10)
	p.f.MultiCell(pdfWidth, lineH+0.4, p.tr(s), "", "J", false)
	p.f.Ln(1)
}

func (p *pdfDoc) numbered(n int, s string) {
	f := p.f
	f.SetFont("Helvetica", "", 10)
	f.CellFormat(7, lineH+0.4, fmt.Sprintf("%d.", n), "", 0, "L", false, 0, "")
	f.MultiCell(pdfWidth-7, lineH+0.4, p.tr(s), "", "L", false)
}

// keep starts a new page unless need mm are left on this one.
func (p *pdfDoc) keep(need float64) {
	_, h := p.f.GetPageSize()
	_, _, _, bottom := p.f.GetMargins()
	if p.f.GetY()+need > h-bottom {
		p.f.AddPage()
	}
}

// section starts a lettered section, on a new page if little room is left.
func (p *pdfDoc) section(title string) {
	f := p.f
	_, h := f.GetPageSize()
	_, _, _, bottom := f.GetMargins()
	if f.GetY() > h-bottom-30 {
		f.AddPage()
	}
	f.Ln(3)
	f.SetFont("Helvetica", "B", 11)
	f.CellFormat(pdfWidth, 6, p.tr(title), "", 1, "L", false, 0, "")
}

func (p *pdfDoc) subsection(title string) {
	p.f.Ln(1)
	p.f.SetFont("Helvetica", "B", 9.5)
	p.f.MultiCell(pdfWidth, 5, p.tr(title), "", "L", false)
}

// table draws rows with wrapped cells; header is repeated on each new page. style
// returns a step status for a cell to colour it.
func (p *pdfDoc) table(widths []float64, header []string, rows [][]string, style func(row, col int) string) {
	f := p.f
	const pad = 1.2
	cellLines := func(text string, w float64) [][]byte {
		var out [][]byte
		for _, part := range strings.Split(p.tr(text), "\n") {
			lines := f.SplitLines([]byte(part), w-2*pad)
			if len(lines) == 0 {
				lines = [][]byte{{}}
			}
			out = append(out, lines...)
		}
		return out
	}
	var drawRow func(cells []string, bold bool, fill bool, colour func(col int) string)
	drawRow = func(cells []string, bold bool, fill bool, colour func(col int) string) {
		font := ""
		if bold {
			font = "B"
		}
		f.SetFont("Helvetica", font, 8.3)
		const lh = 3.9
		n := 1
		split := make([][][]byte, len(cells))
		for i, c := range cells {
			split[i] = cellLines(c, widths[i])
			n = max(n, len(split[i]))
		}
		h := float64(n)*lh + 2*pad
		_, pageH := f.GetPageSize()
		_, _, _, bottom := f.GetMargins()
		if f.GetY()+h > pageH-bottom {
			f.AddPage()
			if header != nil && !bold {
				drawRow(header, true, true, nil) // the header again on the new page
				f.SetFont("Helvetica", font, 8.3)
			}
		}
		x, y := f.GetX(), f.GetY()
		for i, lines := range split {
			if fill {
				f.SetFillColor(232, 232, 232)
				f.Rect(x, y, widths[i], h, "FD")
			} else {
				f.Rect(x, y, widths[i], h, "D")
			}
			if colour != nil {
				switch colour(i) {
				case StepOK:
					f.SetTextColor(27, 94, 32)
				case StepFailed:
					f.SetTextColor(183, 28, 28)
				case StepSkipped:
					f.SetTextColor(110, 110, 110)
				}
			}
			for j, line := range lines {
				f.SetXY(x+pad, y+pad+float64(j)*lh)
				f.CellFormat(widths[i]-2*pad, lh, string(line), "", 0, "L", false, 0, "")
			}
			f.SetTextColor(0, 0, 0)
			x += widths[i]
		}
		f.SetXY(pdfMargin, y+h)
	}
	if header != nil {
		drawRow(header, true, true, nil)
	}
	for ri, row := range rows {
		var colour func(int) string
		if style != nil {
			colour = func(col int) string { return style(ri, col) }
		}
		drawRow(row, false, false, colour)
	}
}

// chart draws one target's trend: a bar per past drill, green when it passed, red
// when it failed, with the RTO objective as a dashed line.
func (p *pdfDoc) chart(c chart) {
	f, v := p.f, p.v
	const h, labelH = 32.0, 7.0
	_, pageH := f.GetPageSize()
	_, _, _, bottom := f.GetMargins()
	if f.GetY()+h+labelH+8 > pageH-bottom {
		f.AddPage()
	}
	f.SetFont("Helvetica", "B", 8.5)
	f.CellFormat(pdfWidth, 4.5, p.tr(v.chartHeading(c)), "", 1, "L", false, 0, "")
	x0, y0 := pdfMargin, f.GetY()
	f.SetDrawColor(180, 180, 180)
	f.SetFillColor(250, 250, 250)
	f.Rect(x0, y0, pdfWidth, h, "FD")
	slot := pdfWidth / float64(max(len(c.Points), 1))
	f.SetFont("Helvetica", "", 6.5)
	for i, pt := range c.Points {
		bh := (h - 2) * float64(time.Duration(pt.RTO)) / float64(c.scale())
		if pt.Passed {
			f.SetFillColor(46, 125, 50)
		} else {
			f.SetFillColor(198, 40, 40)
		}
		bx := x0 + float64(i)*slot + slot*0.15
		current := p.r.isCurrent(pt)
		if current { // this drill: outlined in black, its value in bold
			f.SetDrawColor(17, 17, 17)
			f.SetLineWidth(0.6)
			f.Rect(bx, y0+h-bh, slot*0.7, bh, "FD")
			f.SetLineWidth(0.2)
			f.SetDrawColor(180, 180, 180)
			f.SetFont("Helvetica", "B", 6.5)
		} else {
			f.Rect(bx, y0+h-bh, slot*0.7, bh, "F")
		}
		f.SetXY(bx-1, y0+h-bh-3.2)
		f.CellFormat(slot*0.7+2, 3, p.tr(v.duration(time.Duration(pt.RTO))), "", 0, "C", false, 0, "")
		f.SetFont("Helvetica", "", 6.5)
		f.SetXY(bx-1, y0+h+0.5)
		f.CellFormat(slot*0.7+2, 3, pt.Time.Format("02/01"), "", 0, "C", false, 0, "")
		f.SetXY(bx-1, y0+h+3.3)
		f.CellFormat(slot*0.7+2, 3, p.tr(pt.DRC), "", 0, "C", false, 0, "")
	}
	if c.objectiveShown() {
		oy := y0 + h - (h-2)*float64(c.Objective)/float64(c.scale())
		f.SetDrawColor(21, 101, 192)
		f.SetDashPattern([]float64{1.5, 1.2}, 0)
		f.Line(x0, oy, x0+pdfWidth, oy)
		f.SetDashPattern(nil, 0)
	}
	f.SetDrawColor(0, 0, 0)
	f.SetXY(pdfMargin, y0+h+labelH+1)
}

func (p *pdfDoc) signatures() {
	f, v, r := p.f, p.v, p.r
	_, pageH := f.GetPageSize()
	_, _, _, bottom := f.GetMargins()
	ack, hasAck := r.acknowledger(v)
	need := 48.0
	if hasAck {
		need += 44
	}
	if f.GetY()+need > pageH-bottom {
		f.AddPage()
	}
	f.SetFont("Helvetica", "", 10)
	place := v.date(r.Generated)
	if r.Office.City != "" {
		place = r.Office.City + ", " + place
	}
	f.CellFormat(pdfWidth, 6, p.tr(place), "", 1, "R", false, 0, "")
	col := pdfWidth / 2
	y := f.GetY() + 2
	type block struct {
		label  string
		person Person
	}
	blocks := []block{{v.PerformedBy, r.Signers.PerformedBy}, {v.ApprovedBy, r.Signers.ApprovedBy}}
	if hasAck {
		blocks = append(blocks, block{v.Acknowledged, ack})
	}
	for i, who := range blocks {
		x := pdfMargin + float64(i)*col
		if i == 2 { // the agency's head, centred below the other two
			x, y = pdfMargin+col/2, y+44
		}
		f.SetXY(x, y)
		f.SetFont("Helvetica", "", 10)
		f.CellFormat(col, 5, p.tr(who.label+","), "", 2, "C", false, 0, "")
		f.SetX(x)
		f.CellFormat(col, 5, p.tr(who.person.Title), "", 2, "C", false, 0, "")
		f.SetXY(x, y+30)
		f.SetFont("Helvetica", "BU", 10)
		if who.person.Name == blankName {
			f.SetFont("Helvetica", "", 10)
		}
		f.CellFormat(col, 5, p.tr(who.person.Name), "", 2, "C", false, 0, "")
		if who.person.NIP != "" {
			f.SetX(x)
			f.SetFont("Helvetica", "", 9.5)
			f.CellFormat(col, 5, p.tr(v.Nip+". "+who.person.NIP), "", 2, "C", false, 0, "")
		}
	}
}
