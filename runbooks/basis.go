package runbooks

import (
	"regexp"
)

var (
	// article matches a cited article: "Pasal 28", "Article 7".
	article = regexp.MustCompile(`\b(Pasal|Article)\s+\d+`)
	// regulation matches the name of a regulation in Indonesian or English: a law, a
	// government, presidential, ministerial, regional or head-of-region regulation or
	// decree, with its number.
	regulation = regexp.MustCompile(`(?i)\b(undang-undang|uu|peraturan|perpres|permen\w*|perda|pergub|perwali|perwako|perbup|keputusan|kepmen\w*|kepgub|instruksi|surat edaran|pp|law|act|regulation|decree)\b[^;]*?\b(nomor|no\.|number|\d+/\d{4})`)
)

// ArticleWithoutRegulation returns the first article a legal-basis line cites ("Pasal
// 28") when the line names no regulation before it, or "". A basis of signed minutes
// must say whose article it is.
func ArticleWithoutRegulation(line string) string {
	loc := article.FindStringIndex(line)
	if loc == nil {
		return ""
	}
	if regulation.MatchString(line[:loc[0]]) {
		return ""
	}
	return line[loc[0]:loc[1]]
}
