// The console's only script (a file of its own: the Content-Security-Policy allows no inline script).
// Forms marked data-confirm="question" ask before they are sent: deleting a profile, revoking a key, deleting a
// policy... Without JavaScript the forms still work, without the question.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
