/* ldapkeeper UI behaviour. No inline script anywhere: the CSP allows scripts from /static only. */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  /* Reject Unauthorized applies to TLS only (ldaps:// or StartTLS); StartTLS to ldap:// only. */
  function syncLdapForms(root) {
    root.querySelectorAll("#ldap-connection-form").forEach(function (form) {
      var url = form.querySelector("[name='credentials.url']");
      var startTls = form.querySelector("[name='credentials.startTls']");
      var reject = form.querySelector("[name='credentials.sslRejectUnauthorized']");
      if (!url || !startTls || !reject) {
        return;
      }
      var ldaps = url.value.trim().toLowerCase().indexOf("ldaps://") === 0;
      if (ldaps) {
        startTls.checked = false;
      }
      startTls.disabled = ldaps;
      reject.disabled = !(ldaps || startTls.checked);
    });
  }

  /* The current password is asked for the target-principal method only. */
  function syncRotationForms(root) {
    root.querySelectorAll("[data-rotation-method]").forEach(function (method) {
      var form = method.form;
      var temporary = form && form.querySelector("[data-temporary-password]");
      if (!temporary) {
        return;
      }
      var needed = method.value === "target-principal";
      temporary.disabled = !needed;
      if (!needed) {
        temporary.value = "";
      }
    });
  }

  function syncAll(root) {
    syncLdapForms(root);
    syncRotationForms(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncAll(document);
  });
  document.addEventListener("htmx:afterSettle", function () {
    syncAll(document);
  });
  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#ldap-connection-form")) {
      syncLdapForms(document);
    }
  });
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]")) {
      target.form.submit();
      return;
    }
    syncAll(document);
  });

  /* A long action (a rotation binds and changes a password) shows that it is running. */
  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-busy-label]");
    if (button && !event.target.hasAttribute("hx-post")) {
      button.textContent = button.getAttribute("data-busy-label");
      button.setAttribute("aria-busy", "true");
      window.setTimeout(function () {
        button.disabled = true;
      }, 0);
    }
  });

  /* Escape closes an open dialog. */
  document.addEventListener("keydown", function (event) {
    var modal = document.getElementById("modal");
    if (event.key === "Escape" && modal && modal.firstElementChild) {
      modal.replaceChildren();
    }
  });
})();
