// The one way a label becomes a file or folder name: runs of anything but letters, digits and
// dots become '-', none at either end ("LSTM(update,tele)" -> "LSTM-update-tele", "lr 1e-3" ->
// "lr-1e-3"); a label with nothing left names "run".
export const slug = (label: string): string => label.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-|-$/g, '') || 'run';
