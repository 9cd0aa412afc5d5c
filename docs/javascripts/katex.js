// Typeset math with the KaTeX copy served from this site. document$ fires on every page
// load, including Material's instant navigation, so math renders after each page change.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    // Otherwise the copy button of a code block would copy typeset math.
    ignoredClasses: ["clipboard-copy-txt"],
    throwOnError: false,
  });
});
