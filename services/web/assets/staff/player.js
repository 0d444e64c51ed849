// The review page's player: the timeline's moments seek it, and "Use the current moment"
// fills the comment's moment from it. Without this script the moments are still shown and
// typed by hand.
const player = document.getElementById("player");
const at = document.getElementById("at");
const useNow = document.getElementById("use-now");

function clock(seconds) {
  const whole = Math.floor(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor(whole / 60) % 60;
  const s = String(whole % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

if (player) {
  for (const link of document.querySelectorAll("a.seek")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      player.currentTime = Number(link.dataset.seconds);
      player.focus();
    });
  }
  if (useNow && at) {
    useNow.hidden = false;
    useNow.addEventListener("click", () => {
      at.value = clock(player.currentTime);
      document.getElementById("body")?.focus();
    });
  }
}
