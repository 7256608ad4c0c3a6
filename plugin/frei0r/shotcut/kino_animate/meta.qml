// Shotcut filter description for kino's kino_animate frei0r plugin (installed by `make editors`).
import QtQuick 2.0
import org.shotcut.qml 1.0

Metadata {
    type: Metadata.Filter
    name: qsTr('Kino: Animate')
    keywords: qsTr('generate text prompt animate still image ai video', 'search keywords for the Kino: Animate video filter') + ' kino kino_animate #rgba'
    mlt_service: 'frei0r.kino_animate'
    objectName: 'kino_animate'
    qml: 'ui.qml'
    allowMultiple: false
}
