// Storing a recording: a file chosen, or one recorded here (MediaRecorder, audio only where
// the recording is audio), sent as the body of PUT /practice/recordings/{id}/media with a
// progress bar. "The client asks to stop" stops the recorder and records that moment as the
// client's stop (POST /practice/recordings/{id}/stop) before the recording is sent, so
// nothing after it is ever stored. The server keeps nothing of a broken upload, so a dropped connection sends
// the whole file again, up to three more times, and says so.
const section = document.getElementById("upload");
if (section) {
  const id = section.dataset.recording;
  const csrf = section.dataset.csrf;
  const audioOnly = section.dataset.audioOnly === "true";
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const fileInput = document.getElementById("media-file");
  const start = document.getElementById("upload-start");
  const recStart = document.getElementById("record-start");
  const recStop = document.getElementById("record-stop");
  const clientStop = document.getElementById("record-client-stop");
  document.getElementById("upload-needs-js").hidden = true;
  document.getElementById("upload-controls").hidden = false;

  const send = (blob, attempt = 1) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/practice/recordings/${id}/media`);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Content-Type", blob.type || "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = Math.round((100 * event.loaded) / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 200) {
        progress.value = 100;
        status.textContent = `${xhr.responseText} Reloading…`;
        window.location.reload();
      } else {
        const page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        const said = page.querySelector("main p")?.textContent ?? `error ${xhr.status}`;
        status.textContent = `The recording was not stored: ${said}`;
      }
    });
    xhr.addEventListener("error", () => {
      if (attempt <= 3) {
        status.textContent = `The connection dropped; sending the whole file again (attempt ${attempt + 1} of 4).`;
        setTimeout(() => send(blob, attempt + 1), 2000 * attempt);
      } else {
        status.textContent = "The connection dropped four times; nothing was stored. Try again later.";
      }
    });
    status.textContent = "Uploading…";
    xhr.send(blob);
  };

  start.addEventListener("click", () => {
    const file = fileInput.files[0];
    if (file) send(file);
    else status.textContent = "Choose a file first.";
  });

  let recorder = null;
  let startedAt = 0;
  let beforeSending = async () => true;
  if (!window.MediaRecorder || !navigator.mediaDevices) {
    recStart.hidden = true;
    recStop.hidden = true;
    clientStop.hidden = true;
  }
  recStart.addEventListener("click", async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: !audioOnly });
    const chunks = [];
    recorder = new MediaRecorder(stream);
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.addEventListener("stop", async () => {
      for (const track of stream.getTracks()) track.stop();
      if (await beforeSending()) send(new Blob(chunks, { type: recorder.mimeType }));
    });
    // Taken just before the recorder starts, so what it has recorded by any moment is never
    // longer than the time since.
    startedAt = performance.now();
    recorder.start(1000);
    recStart.disabled = true;
    recStop.disabled = false;
    clientStop.disabled = false;
    status.textContent = "Recording. Press Stop when the session ends or the client asks to stop.";
    recStop.focus();
  });
  recStop.addEventListener("click", () => {
    recStop.disabled = true;
    clientStop.disabled = true;
    if (recorder) recorder.stop();
  });
  // The moment is the time since the recorder started, when the client asks; the recorder
  // stops at once. Should what it recorded run past that moment all the same, the server
  // refuses it and the page says so: nothing after the client's stop is ever kept.
  clientStop.addEventListener("click", () => {
    recStop.disabled = true;
    clientStop.disabled = true;
    const ms = Math.ceil(performance.now() - startedAt);
    const at = `${Math.floor(ms / 60000)}:${((ms % 60000) / 1000).toFixed(3).padStart(6, "0")}`;
    beforeSending = async () => {
      status.textContent = `Recording the client's stop at ${at}…`;
      const answer = await fetch(`/practice/recordings/${id}/stop`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, at }),
        redirect: "manual",
      });
      if (answer.type === "opaqueredirect" || answer.ok) return true;
      status.textContent = "The client's stop could not be recorded, so the recording was not sent. Record the moment in the form below, then upload.";
      return false;
    };
    if (recorder) recorder.stop();
  });
}
