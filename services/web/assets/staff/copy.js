// "Copy the link" on a client's page, where the browser lets a page write to the clipboard.
// Without it the link is still shown, selectable, in its field.
const button = document.getElementById("copy-link");
const said = document.getElementById("copied");
if (button && navigator.clipboard) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const field = document.getElementById(button.dataset.copies);
    try {
      await navigator.clipboard.writeText(field.value);
      said.textContent = "Copied.";
    } catch {
      field.select();
      said.textContent = "Select the link and copy it.";
    }
  });
}
