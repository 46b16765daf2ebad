"use strict";
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const response = await fetch("/ui/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({token: document.getElementById("token").value}),
  });
  if (response.status === 204) {
    window.location.reload();
  } else {
    error.textContent = response.status === 401 ? "Wrong token." : `Login failed (HTTP ${response.status}).`;
  }
});
